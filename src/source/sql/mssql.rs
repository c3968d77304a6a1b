//! SQL Server source through tiberius.
//!
//! Values map per `ColumnData` variant to what the original's driver (tedious 2.7, read
//! through Sequelize 4 with `useUTC`) produced, as `JSON.stringify` wrote it — bigint →
//! string, uniqueidentifier → upper case, every date and time type → a UTC ISO instant,
//! binary → Buffer form (see `docs/type-mapping.md`). Checked over TDS against a test server
//! in `tests/source_mssql.rs`.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use futures::TryStreamExt;
use serde_json::Value;
use tiberius::{
    AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem, QueryStream, Row,
    SqlBrowser,
};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::{Item, Reading, Rows, Session, Stop, connect_within, read_rows};
use crate::config::DatabaseConfig;
use crate::source::{
    CANCEL_TIMEOUT, CONNECT_TIMEOUT, Cancelled, Column, HINT_AUTH, HINT_DATABASE, HINT_HOST,
    QueryTimeouts, SourceError, convert,
};

/// Which login a configuration uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// SQL Server login (`database_username`/`database_password`).
    SqlServer { user: String },
    /// Windows/NTLM login (`database_domain` set): `DOMAIN\user`.
    Windows { user: String },
}

/// Connection settings derived from a [`DatabaseConfig`], before they become a tiberius
/// [`Config`] (kept separate so they can be checked without a network).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub host: String,
    /// `None` with a named instance: the port comes from SQL Browser (UDP 1434), as in the
    /// original (tedious ignores the port when an instance name is given).
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    /// `database_encrypt: true` → `Required` (certificate verified against the OS trust
    /// store; no trust-all), otherwise `NotSupported` (no TLS, as tedious with encrypt false).
    pub encryption: EncryptionLevel,
    pub login: Login,
}

impl Settings {
    pub fn from_database(db: &DatabaseConfig) -> Settings {
        let user = db.username.clone().unwrap_or_default();
        let login = match db.domain.as_deref().filter(|d| !d.is_empty()) {
            Some(domain) => Login::Windows {
                user: format!("{domain}\\{user}"),
            },
            None => Login::SqlServer { user },
        };
        let instance = db.instance.clone().filter(|i| !i.is_empty());
        Settings {
            host: db.host.clone().unwrap_or_else(|| "localhost".to_string()),
            port: if instance.is_some() {
                None
            } else {
                Some(db.port.unwrap_or(1433))
            },
            instance,
            database: db.database.clone(),
            encryption: if db.encrypt == Some(true) {
                EncryptionLevel::Required
            } else {
                EncryptionLevel::NotSupported
            },
            login,
        }
    }

    /// The tiberius configuration, with `password` as the login's password.
    pub fn to_config(&self, password: &str) -> Result<Config, SourceError> {
        let mut config = Config::new();
        config.host(&self.host);
        if let Some(port) = self.port {
            config.port(port);
        }
        if let Some(instance) = &self.instance {
            config.instance_name(instance);
        }
        if let Some(database) = &self.database {
            config.database(database);
        }
        config.application_name("fliplet-agent");
        config.encryption(self.encryption);
        config.handshake_timeout(Some(CONNECT_TIMEOUT));
        config.authentication(match &self.login {
            Login::SqlServer { user } => AuthMethod::sql_server(user, password),
            Login::Windows { user } => windows_login(user, password)?,
        });
        Ok(config)
    }
}

#[cfg(windows)]
fn windows_login(user: &str, password: &str) -> Result<AuthMethod, SourceError> {
    Ok(AuthMethod::windows(user, password))
}

#[cfg(not(windows))]
fn windows_login(_user: &str, _password: &str) -> Result<AuthMethod, SourceError> {
    Err(SourceError::Config {
        message: "database_domain (a Windows/NTLM login to SQL Server) needs the agent to run \
                  on Windows; on this system use a SQL Server login (remove database_domain)"
            .to_string(),
    })
}

/// Build the tiberius [`Config`] for `db`.
pub fn build_config(db: &DatabaseConfig) -> Result<Config, SourceError> {
    let password = db.password.as_ref().map(|p| p.expose()).unwrap_or("");
    Settings::from_database(db).to_config(password)
}

type MssqlClient = Client<Compat<TcpStream>>;

async fn connect(db: &DatabaseConfig) -> Result<MssqlClient, SourceError> {
    let mut config = build_config(db)?;
    let attempt = async {
        let mut redirects = 0;
        loop {
            let tcp = TcpStream::connect_named(&config).await?;
            tcp.set_nodelay(true)?;
            match Client::connect(config.clone(), tcp.compat_write()).await {
                // Azure SQL may redirect the login to another host.
                Err(tiberius::error::Error::Routing { host, port }) if redirects < 2 => {
                    redirects += 1;
                    config.host(&host);
                    config.port(port);
                }
                other => return other,
            }
        }
    };
    connect_within(db, attempt, connect_error).await
}

/// Hint for `database_encrypt: true` against a server that offers no encryption.
const HINT_NO_ENCRYPTION: &str =
    "Turn on encryption (a TLS certificate) on the SQL Server, or set database_encrypt: false.";

/// Hint for a server certificate that is not trusted.
const HINT_CERTIFICATE: &str = "The connection is encrypted (database_encrypt: true, or a server \
     that requires encryption), so the server's certificate must be trusted by this computer: \
     add it, or the certificate of the CA that issued it, to the system's trusted \
     certificates, and use a database_host the certificate is issued for.";

/// Hint for a named instance that SQL Server Browser did not resolve.
const HINT_INSTANCE: &str = "Check database_instance and that the SQL Server Browser service is \
     running and reachable (UDP port 1434), or remove database_instance and set database_port \
     to the instance's port.";

fn connect_error(db: &DatabaseConfig, e: tiberius::error::Error) -> SourceError {
    use tiberius::error::Error;
    match &e {
        Error::Io { message, .. } => SourceError::connect(db, message.clone(), Some(HINT_HOST)),
        Error::Server(token) => {
            let hint = match token.code() {
                18456 | 18452 | 18486 | 18487 | 18488 => Some(HINT_AUTH),
                4060 | 911 => Some(HINT_DATABASE),
                _ => None,
            };
            SourceError::connect(db, token.message().to_string(), hint)
        }
        Error::Protocol(message) if message.contains("encryption level") => SourceError::connect(
            db,
            "database_encrypt is true but the server does not offer encryption".into(),
            Some(HINT_NO_ENCRYPTION),
        ),
        // tiberius words certificate failures for programmers (its own configuration calls):
        // keep the reason, say what a user can do.
        Error::Tls(message) => {
            let reason = message
                .split(" To connect anyway")
                .next()
                .unwrap_or(message)
                .trim_end_matches('.');
            let reason = reason
                .strip_prefix("the server's certificate was rejected during the TLS handshake: ")
                .map(|r| format!("the server's TLS certificate was rejected: {r}"));
            match reason {
                Some(reason) => SourceError::connect(db, reason, Some(HINT_CERTIFICATE)),
                None => SourceError::connect(db, e.to_string(), None),
            }
        }
        Error::Conversion(message) if message.contains("SQL browser") => {
            let host = db.host.as_deref().unwrap_or("localhost");
            let instance = db.instance.as_deref().unwrap_or_default();
            SourceError::connect(
                db,
                format!(
                    "SQL Server Browser (UDP port 1434 on {host}) gave no port for the instance '{instance}'"
                ),
                Some(HINT_INSTANCE),
            )
        }
        _ => SourceError::connect(db, e.to_string(), None),
    }
}

fn query_error(db: &DatabaseConfig, e: tiberius::error::Error) -> SourceError {
    match &e {
        tiberius::error::Error::Server(token) => {
            SourceError::query(db, token.message().to_string())
        }
        _ => SourceError::query(db, e.to_string()),
    }
}

/// A SQL Server connection being fetched on.
///
/// SQL Server has no per-session statement limit, and tiberius cannot send the protocol's
/// cancel (attention) message: both bounds are client-side. When one expires the connection
/// is dropped (its socket closed); SQL Server ends the request when it sees the connection
/// gone. Stopping it from a second connection (`KILL <spid>`) would need the ALTER ANY
/// CONNECTION permission, which a sync login should not have.
pub(super) struct MssqlSession {
    client: MssqlClient,
}

impl Session for MssqlSession {
    type QueryId = ();

    async fn connect(db: &DatabaseConfig) -> Result<Self, SourceError> {
        Ok(MssqlSession {
            client: connect(db).await?,
        })
    }

    async fn test(db: &DatabaseConfig) -> Result<(), SourceError> {
        let mut client = connect(db).await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| query_error(db, e))?
            .into_results()
            .await
            .map_err(|e| query_error(db, e))?;
        let _ = client.close().await;
        Ok(())
    }

    async fn prepare(
        &mut self,
        _db: &DatabaseConfig,
        _timeouts: &QueryTimeouts,
    ) -> Result<((), bool), SourceError> {
        Ok(((), false))
    }

    /// The first result set of `query`; a second one stops the read.
    async fn read<'a>(
        &'a mut self,
        db: &'a DatabaseConfig,
        query: &'a str,
        reading: &'a mut Reading,
    ) -> Result<bool, Stop> {
        let stream = reading
            .bound
            .wait_for(self.client.simple_query(query), |e| {
                query_error(db, e).into()
            })
            .await?;
        read_rows(&mut MssqlRows { db, stream }, reading).await
    }

    async fn close(self) {
        let _ = tokio::time::timeout(CANCEL_TIMEOUT, self.client.close()).await;
    }

    async fn ended_by_server(self) -> Cancelled {
        Cancelled::ConnectionClosed
    }

    async fn stop(self, _db: &DatabaseConfig, _: ()) -> Cancelled {
        drop(self.client);
        Cancelled::ConnectionClosed
    }
}

/// The items of a SQL Server result: its columns, then its rows.
struct MssqlRows<'a> {
    db: &'a DatabaseConfig,
    stream: QueryStream<'a>,
}

impl Rows for MssqlRows<'_> {
    type Row = Row;

    async fn next(&mut self) -> Result<Option<Item<Row>>, Stop> {
        let item = self
            .stream
            .try_next()
            .await
            .map_err(|e| query_error(self.db, e))?;
        Ok(item.map(|item| match item {
            QueryItem::Metadata(meta) if meta.result_index() > 0 => Item::NextResult,
            QueryItem::Metadata(meta) => Item::Columns(
                meta.columns()
                    .iter()
                    .map(|c| Column {
                        name: c.name().to_string(),
                        type_name: format!("{:?}", c.column_type()),
                    })
                    .collect(),
            ),
            QueryItem::Row(row) => Item::Row(row),
        }))
    }

    fn values(&self, row: Row) -> Result<Vec<Value>, SourceError> {
        Ok(row.into_iter().map(|cell| value(&cell)).collect())
    }
}

fn days_from(base: NaiveDate, days: i64) -> Option<NaiveDate> {
    base.checked_add_signed(Duration::days(days))
}

fn base_1900() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date")
}

fn base_0001() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).expect("valid date")
}

/// Nanoseconds since midnight of a TDS `time` value.
fn time_nanos(t: tiberius::time::Time) -> i64 {
    let inc = t.increments() as i128;
    let nanos = inc * 10i128.pow(9u32.saturating_sub(t.scale() as u32));
    nanos as i64
}

fn datetime2(dt: tiberius::time::DateTime2) -> Option<NaiveDateTime> {
    let date = days_from(base_0001(), dt.date().days() as i64)?;
    date.and_hms_opt(0, 0, 0)?
        .checked_add_signed(Duration::nanoseconds(time_nanos(dt.time())))
}

/// The exact text of a decimal/numeric value: SQL Server's, with the column's scale.
fn decimal_text(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let mut out = String::with_capacity(digits.len() + 3);
    if value < 0 {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
    out
}

/// A decimal/numeric value: the number tedious made of it (value ÷ 10^scale, a JavaScript
/// double) when that double still reads back as the exact value; otherwise the exact value
/// as text, where a double would have lost digits (e.g. `decimal(38,10)` with 30 digits).
fn decimal(value: i128, scale: u8) -> Value {
    let exact = decimal_text(value, scale);
    let double: f64 = exact.parse().unwrap_or(f64::NAN);
    // Rust prints a double as its shortest round-trip digits, never with an exponent.
    let exact_trimmed = if exact.contains('.') {
        exact.trim_end_matches('0').trim_end_matches('.')
    } else {
        exact.as_str()
    };
    if double.is_finite() && format!("{double}") == exact_trimmed {
        convert::float(double)
    } else {
        Value::String(exact)
    }
}

fn midnight(date: NaiveDate) -> Option<NaiveDateTime> {
    date.and_hms_opt(0, 0, 0)
}

/// 1970-01-01, the day tedious puts a `time` on.
fn epoch_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

fn iso(dt: Option<NaiveDateTime>) -> Value {
    dt.map(|d| Value::String(convert::iso_utc(d)))
        .unwrap_or(Value::Null)
}

/// The JSON of one SQL Server value (tedious's value as `JSON.stringify` wrote it).
pub fn value(cell: &ColumnData<'_>) -> Value {
    match cell {
        ColumnData::U8(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I16(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I32(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I64(v) => v
            .map(|n| Value::String(n.to_string()))
            .unwrap_or(Value::Null),
        ColumnData::F32(v) => v.map(|f| convert::float(f as f64)).unwrap_or(Value::Null),
        ColumnData::F64(v) => v.map(convert::float).unwrap_or(Value::Null),
        ColumnData::Bit(v) => v.map(Value::Bool).unwrap_or(Value::Null),
        ColumnData::String(v) => v
            .as_ref()
            .map(|s| Value::String(s.to_string()))
            .unwrap_or(Value::Null),
        ColumnData::Guid(v) => v
            .map(|u| {
                Value::String(
                    u.hyphenated()
                        .encode_upper(&mut tiberius::Uuid::encode_buffer())
                        .to_string(),
                )
            })
            .unwrap_or(Value::Null),
        ColumnData::Binary(v) => v
            .as_ref()
            .map(|b| convert::buffer(b))
            .unwrap_or(Value::Null),
        ColumnData::Numeric(v) => v
            .map(|n| decimal(n.value(), n.scale()))
            .unwrap_or(Value::Null),
        ColumnData::Xml(v) => v
            .as_ref()
            .map(|x| Value::String(x.to_string()))
            .unwrap_or(Value::Null),
        // datetime: days since 1900-01-01 and 1/300 s ticks; read as UTC, the ticks rounded
        // to the nearest millisecond (tedious: Math.round(ticks × 10/3)).
        ColumnData::DateTime(v) => iso(v.and_then(|dt| {
            let date = days_from(base_1900(), dt.days() as i64)?;
            let millis = (dt.seconds_fragments() as i64 * 10 + 1) / 3;
            midnight(date)?.checked_add_signed(Duration::milliseconds(millis))
        })),
        // smalldatetime: days since 1900-01-01 and minutes; read as UTC.
        ColumnData::SmallDateTime(v) => iso(v.and_then(|dt| {
            let date = days_from(base_1900(), dt.days() as i64)?;
            date.and_hms_opt(0, 0, 0)?
                .checked_add_signed(Duration::minutes(dt.seconds_fragments() as i64))
        })),
        // time: tedious made it a Date on 1970-01-01 (UTC).
        ColumnData::Time(v) => iso(v.and_then(|t| {
            midnight(epoch_day())?.checked_add_signed(Duration::nanoseconds(time_nanos(t)))
        })),
        // date: a Date at midnight UTC.
        ColumnData::Date(v) => {
            iso(v.and_then(|d| midnight(days_from(base_0001(), d.days() as i64)?)))
        }
        ColumnData::DateTime2(v) => iso(v.and_then(datetime2)),
        // datetimeoffset: TDS carries the UTC instant plus the offset; the instant is sent.
        ColumnData::DateTimeOffset(v) => iso(v.and_then(|dto| datetime2(dto.datetime2()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Driver;
    use crate::secret::Secret;
    use serde_json::json;
    use std::borrow::Cow;
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};

    fn db() -> DatabaseConfig {
        DatabaseConfig {
            driver: Driver::Mssql,
            host: Some("db.local".into()),
            port: None,
            username: Some("sync".into()),
            password: Some(Secret::new("s3cr3t-pw-XYZ")),
            database: Some("sales".into()),
            domain: None,
            instance: None,
            encrypt: None,
            native_odbc: false,
        }
    }

    #[test]
    fn settings_default_sql_login_no_tls() {
        let s = Settings::from_database(&db());
        assert_eq!(s.host, "db.local");
        assert_eq!(s.port, Some(1433));
        assert_eq!(s.encryption, EncryptionLevel::NotSupported);
        assert_eq!(
            s.login,
            Login::SqlServer {
                user: "sync".into()
            }
        );
        let config = build_config(&db()).unwrap();
        assert_eq!(config.get_addr(), "db.local:1433");
    }

    #[test]
    fn settings_instance_encrypt_domain() {
        let mut d = db();
        d.instance = Some("SQLEXPRESS".into());
        d.port = Some(1433);
        d.encrypt = Some(true);
        let s = Settings::from_database(&d);
        assert_eq!(s.port, None);
        assert_eq!(s.instance.as_deref(), Some("SQLEXPRESS"));
        assert_eq!(s.encryption, EncryptionLevel::Required);
        // The SQL Browser port.
        assert_eq!(build_config(&d).unwrap().get_addr(), "db.local:1434");

        d.domain = Some("CORP".into());
        let s = Settings::from_database(&d);
        assert_eq!(
            s.login,
            Login::Windows {
                user: "CORP\\sync".into()
            }
        );
        let built = build_config(&d);
        if cfg!(windows) {
            assert!(built.is_ok());
        } else {
            let err = built.unwrap_err().to_string();
            assert!(err.contains("database_domain"), "{err}");
            assert!(!err.contains("s3cr3t"));
        }
    }

    #[test]
    fn config_debug_and_errors_never_show_password() {
        let d = db();
        let e = SourceError::connect(&d, "Login failed for user 'sync'.".into(), Some(HINT_AUTH));
        let text = e.to_string();
        assert_eq!(
            text,
            "Unable to connect to the database (SQL Server at db.local:1433/sales): \
             Login failed for user 'sync'. Check database_username/database_password."
        );
        let e = SourceError::connect(&d, "echo s3cr3t-pw-XYZ".into(), None);
        assert!(!e.to_string().contains("s3cr3t-pw-XYZ"));
    }

    #[test]
    fn numbers_strings_bits() {
        assert_eq!(value(&ColumnData::U8(Some(7))), json!(7));
        assert_eq!(value(&ColumnData::I16(Some(-7))), json!(-7));
        assert_eq!(value(&ColumnData::I32(Some(7))), json!(7));
        assert_eq!(
            value(&ColumnData::I64(Some(9007199254740993))),
            json!("9007199254740993")
        );
        assert_eq!(value(&ColumnData::I64(Some(-5))), json!("-5"));
        assert_eq!(value(&ColumnData::F64(Some(1.5))), json!(1.5));
        assert_eq!(value(&ColumnData::F32(Some(-0.5))), json!(-0.5));
        assert_eq!(value(&ColumnData::F64(Some(f64::NAN))), Value::Null);
        assert_eq!(value(&ColumnData::Bit(Some(true))), json!(true));
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                12345678, 4
            )))),
            json!(1234.5678)
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(0, 4)))),
            json!(0)
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(-5, 1)))),
            json!(-0.5)
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(7, 3)))),
            json!(0.007)
        );
        // Beyond what a double holds: the exact value, as text with the column's scale.
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                123456789012345678901234567890,
                10
            )))),
            json!("12345678901234567890.1234567890")
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                -9007199254740993,
                0
            )))),
            json!("-9007199254740993")
        );
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                -1234567890123456789,
                20
            )))),
            json!("-0.01234567890123456789")
        );
        // 10^20 is a double exactly.
        assert_eq!(
            value(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                100000000000000000000,
                0
            )))),
            json!(1e20)
        );
        assert_eq!(
            value(&ColumnData::String(Some(Cow::Borrowed("héllo")))),
            json!("héllo")
        );
        assert_eq!(
            value(&ColumnData::Xml(Some(Cow::Owned(
                tiberius::xml::XmlData::new("<a/>")
            )))),
            json!("<a/>")
        );
        let uuid = tiberius::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
        assert_eq!(
            value(&ColumnData::Guid(Some(uuid))),
            json!("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")
        );
        assert_eq!(
            value(&ColumnData::Binary(Some(Cow::Borrowed(&[1, 2, 255])))),
            json!({"type":"Buffer","data":[1,2,255]})
        );
        assert_eq!(
            value(&ColumnData::Binary(Some(Cow::Borrowed(&[])))),
            json!({"type":"Buffer","data":[]})
        );
    }

    #[test]
    fn nulls() {
        for cell in [
            ColumnData::U8(None),
            ColumnData::I64(None),
            ColumnData::String(None),
            ColumnData::Guid(None),
            ColumnData::Binary(None),
            ColumnData::Numeric(None),
            ColumnData::DateTime(None),
            ColumnData::DateTime2(None),
            ColumnData::Date(None),
            ColumnData::Time(None),
            ColumnData::DateTimeOffset(None),
        ] {
            assert_eq!(value(&cell), Value::Null);
        }
    }

    #[test]
    fn dates_and_times() {
        // 2024-03-05 = 45354 days after 1900-01-01.
        let days_1900 = (NaiveDate::from_ymd_opt(2024, 3, 5).unwrap() - base_1900()).num_days();
        let days_0001 = (NaiveDate::from_ymd_opt(2024, 3, 5).unwrap() - base_0001()).num_days();
        // 09:14:27.512 → datetime ticks of 1/300 s (rounded by SQL Server to .513).
        let secs = 9 * 3600 + 14 * 60 + 27;
        let dt = DateTime::new(days_1900 as i32, secs * 300 + 154);
        assert_eq!(
            value(&ColumnData::DateTime(Some(dt))),
            json!("2024-03-05T09:14:27.513Z")
        );
        // Ticks are rounded to the millisecond, as tedious did: 2/300 s → .007, 299 → .997.
        let dt = DateTime::new(days_1900 as i32, 2);
        assert_eq!(
            value(&ColumnData::DateTime(Some(dt))),
            json!("2024-03-05T00:00:00.007Z")
        );
        let dt = DateTime::new(days_1900 as i32, 86_399 * 300 + 299);
        assert_eq!(
            value(&ColumnData::DateTime(Some(dt))),
            json!("2024-03-05T23:59:59.997Z")
        );
        let sdt = SmallDateTime::new(days_1900 as u16, 9 * 60 + 14);
        assert_eq!(
            value(&ColumnData::SmallDateTime(Some(sdt))),
            json!("2024-03-05T09:14:00.000Z")
        );
        let date = Date::new(days_0001 as u32);
        assert_eq!(
            value(&ColumnData::Date(Some(date))),
            json!("2024-03-05T00:00:00.000Z")
        );
        let time = Time::new((secs as u64) * 10_000_000 + 5_120_000, 7);
        assert_eq!(
            value(&ColumnData::DateTime2(Some(DateTime2::new(date, time)))),
            json!("2024-03-05T09:14:27.512Z")
        );
        let end = Time::new(86_399 * 10_000_000, 7);
        assert_eq!(
            value(&ColumnData::DateTime2(Some(DateTime2::new(date, end)))),
            json!("2024-03-05T23:59:59.000Z")
        );
        // datetimeoffset carries UTC plus an offset (+02:00 = 120 minutes).
        let dto = DateTimeOffset::new(DateTime2::new(date, time), 120);
        assert_eq!(
            value(&ColumnData::DateTimeOffset(Some(dto))),
            json!("2024-03-05T09:14:27.512Z")
        );
        // time: a Date on 1970-01-01 (UTC), milliseconds cut.
        assert_eq!(
            value(&ColumnData::Time(Some(Time::new(13 * 3600 + 45 * 60, 0)))),
            json!("1970-01-01T13:45:00.000Z")
        );
        assert_eq!(
            value(&ColumnData::Time(Some(Time::new(
                (13 * 3600 + 45 * 60) * 1000 + 250,
                3
            )))),
            json!("1970-01-01T13:45:00.250Z")
        );
        assert_eq!(
            value(&ColumnData::Time(Some(Time::new(
                86_399 * 10_000_000 + 9_999_999,
                7
            )))),
            json!("1970-01-01T23:59:59.999Z")
        );
    }
}
