"""SQL query queue type (`sqlquery`): new rows of a SELECT, found by a growing column.

An item is one row of `query` whose `filter_field` is greater than the cursor. The task
sees the row in `HIPPO_DATA` as a compact JSON object, columns in the query's order,
e.g. `{"id":42,"path":"/in/a.png","created":"2024-05-01T10:00:00"}`. Values are
rendered as:

- numbers as JSON numbers, except `NUMERIC`/`DECIMAL` values, which are strings with
  every digit the database gave (`"12.50"`); NaN and infinities are strings;
- timestamps as ISO 8601 (`2024-05-01T10:00:00.250000`), with the offset when the
  column has a time zone (`2024-05-01T10:00:00+00:00`); dates as `2024-05-01`, times of
  day as `10:00:00`; intervals (MariaDB `TIME`) as `H:MM:SS`;
- binary values as base64; UUIDs as text; JSON columns and arrays as nested JSON; NULL
  as `null`; anything else as its text.

## Connection strings

`conn_string` is an SQLAlchemy URL (`postgresql+psycopg://user:password@host:5432/db`,
`mysql+pymysql://user:password@host:3306/db`, `sqlite:////abs/path/to.db`; special
characters in the password percent-encoded). A URL without a driver gets the driver
this plugin installs: `postgresql://` and `postgres://` become `postgresql+psycopg://`,
`mysql://` becomes `mysql+pymysql://`, `mariadb://` becomes `mariadb+pymysql://`. JDBC
URLs are translated the same way: `jdbc:mysql://user:pass@host:3306/db` becomes
`mysql+pymysql://user:pass@host:3306/db`, `jdbc:mariadb://` becomes
`mariadb+pymysql://`, `jdbc:postgresql://` becomes `postgresql+psycopg://`,
`jdbc:sqlite:/abs/x.db` becomes `sqlite:////abs/x.db`. JDBC options (`?useSSL=false`,
`?user=...&password=...`) are refused rather than guessed at. In-memory SQLite is
refused (it has no rows).

Hippo masks only the password before the host (`user:********@host`), so a queue is
refused when its `conn_string` would show a secret anyway: one that begins or ends with
whitespace; one whose query string has a key containing `pass`, `pwd`, `secret`,
`token` or `key` in any case (`?password=`, `?passwd=`, `?sslpassword=`,
`?ssl_key_password=`, also `?sslkey=`: a client key file has to come from the driver's
environment instead, e.g. `PGSSLKEY`); and one whose password Hippo cannot find the end
of (an `@`, `:`, `/` or line break in the user name or password that is not
percent-encoded). Error messages show the URL with the password and such options
hidden.

## How a poll reads

Hippo wraps the query as a derived table and runs, with the cursor as a bound parameter
and `filter_field` quoted by the database's dialect:

```sql
SELECT * FROM (<query>) AS hippo_rows
WHERE "filter_field" > :cursor ORDER BY "filter_field" LIMIT <limit + 1>
```

(`IS NOT NULL` instead of `> :cursor` while the cursor is `null`; rows whose
`filter_field` is NULL are never taken). Rows come out in `filter_field` order.

## Cursor and custody

The cursor is the greatest `filter_field` value taken, as JSON: integers stay integers,
floats stay numbers, a whole `DECIMAL` becomes an integer and another one a string,
timestamps and dates become ISO 8601 text (which PostgreSQL, MariaDB and SQLite compare
correctly with their date and time columns), text stays text. It starts at
`filter_val`. Nothing is deleted, so `ack` has nothing to do: custody is the cursor,
stored by Hippo together with the tasks.

`limit` never cuts through a run of rows sharing one `filter_field` value (the cursor
would move past that value and the rest of the run would never be read): a run that
does not fit is left whole for the next poll, and a single run longer than `limit` is
taken whole, so such a poll returns more than `limit` items. Choose a column that only
grows (an identity column, an insertion time): a row that appears later with a value at
or below the cursor is never taken.

What resets the cursor (`source_identity`): Hippo drops the stored cursor and starts
again from `filter_val` when the queue points at other rows: another database (its
kind, host, port and name, or SQLite file; `host`, `port`, `dbname`, `service` and
`unix_socket` options included), another `query` (a change of whitespace or a trailing
`;` does not count) or another `filter_field`. A changed `filter_val` resets it too.
Changing the user name, password, driver (`jdbc:mysql://` to `mysql+pymysql://`), other
URL options or the timeouts keeps it.

## Connections and timeouts

One SQLAlchemy engine per queue with a connection pool (checked before use, recycled
after 30 minutes); `close()` disposes of it.

A query that hangs would hold one of the poller's threads, so each statement of a poll
runs under `query_timeout_seconds`: PostgreSQL's `statement_timeout` (`SET LOCAL` in
the poll's transaction), MariaDB's `max_statement_time` or MySQL's
`max_execution_time` (`SET SESSION`), and for SQLite a progress handler that
interrupts the poll once it has run that long in all. PyMySQL also stops waiting for
any answer `query_timeout_seconds + 30` seconds into a read (`read_timeout`, unless the
URL sets its own). A stopped query fails the poll with `DatabaseUnavailable`
(transient), saying it ran longer than `query_timeout_seconds`; if it always does, make
it faster (an index on `filter_field`) or raise the limit.

## Errors

A refused, dropped or timed-out connection, a server that is starting up or has too
many clients, a lock wait timeout, deadlock or serialization failure, and a query
stopped by `query_timeout_seconds` raise `DatabaseUnavailable`, which is transient. Bad
SQL, an unknown column or table, refused credentials or an unknown database raise
`QueueTypeError` with the database's message. Every message begins with the URL, its
password (and any option that looks secret) hidden.

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "import-order \\"$HIPPO_DATA\\"",
  "container": {"docker": {"image": "example/orders:1"}},
  "queue": {"type": "sqlquery", "name": "new orders",
            "sqlquery": {
              "conn_string": "postgresql+psycopg://hippo:s3cret@db.internal:5432/shop",
              "query": "SELECT id, customer, total FROM orders WHERE paid_at IS NOT NULL",
              "filter_field": "id",
              "filter_val": 1000}}
}'
```
"""

from hippo_sqlquery.errors import DatabaseUnavailable
from hippo_sqlquery.queuetype import SqlQueryQueueType

__all__ = ["DatabaseUnavailable", "SqlQueryQueueType"]
