//! A SQL Server for the tests, speaking TDS 7.x on loopback.
//!
//! The base is Microsoft's `mssql-mock-tds` (from the microsoft/mssql-rs workspace): its
//! PRELOGIN answer, its per-connection processor (LOGINACK and the environment changes, the
//! query registry with `SELECT 1`, registered result sets, error-only answers), its TLS
//! modes, and its value encoders for the types it knows (int types, nvarchar, the PLP
//! `(max)` types, byte-length NULL). This module adds only what that mock cannot do, each in
//! front of its processor, packet by packet:
//!
//! - [`TdsServer`]: checks the LOGIN7 user and password and answers a wrong one with SQL
//!   Server's error 18456 (the mock accepts any login); answers the queries registered with
//!   [`TdsServer::reply`] with a [`Reply`] (every column type of SQL Server, several result
//!   sets, row counts, an error after rows, generated rows split over as many 4 KiB packets as
//!   needed — the mock writes one packet of at most 64 KiB); records logins and batches.
//! - [`tls_relay`]: in TLS mode the mock wraps its half of the TLS handshake in TDS packets of
//!   type 4 (tabular result) where SQL Server uses type 0x12 (pre-login), which tiberius
//!   refuses before any certificate is looked at; the relay rewrites that one header byte.
//! - [`SqlBrowser`]: answers SQL Server Browser's SSRP request (UDP 1434) for one instance.
//!
//! Value layouts follow [MS-TDS] 2.2.5 (data types) and 2.2.7 (tokens).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, BytesMut};
use chrono::{NaiveDate, NaiveTime, Timelike};
use mssql_mock_tds::protocol::{self, PACKET_HEADER_SIZE, PacketHeader, PacketStatus, PacketType};
use mssql_mock_tds::server::ConnectionProcessor;
use mssql_mock_tds::{ColumnValue, QueryRegistry, TerminalError};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Bytes of one TDS packet this server sends (header included): the size its LOGINACK
/// announces.
const PACKET_SIZE: usize = 4096;

/// SQL_Latin1_General_CP1_CI_AS (LCID 0x0409, sort id 52): code page 1252.
pub const LATIN1: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

// ---------- Column types and values ----------

/// A column type as SQL Server describes it in COLMETADATA. SQL Server sends `NOT NULL`
/// columns of the fixed-length types with the fixed types (`Int4`, `Bit`, …) and nullable
/// ones with the `…N` types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Int1,
    Int2,
    Int4,
    Int8,
    /// tinyint/smallint/int/bigint by width (1, 2, 4, 8).
    IntN(u8),
    Bit,
    BitN,
    Flt4,
    Flt8,
    /// real (4) / float (8).
    FltN(u8),
    Money,
    Money4,
    /// money (8) / smallmoney (4).
    MoneyN(u8),
    DateTime,
    DateTime4,
    /// datetime (8) / smalldatetime (4).
    DateTimeN(u8),
    /// decimal(precision, scale).
    Decimal(u8, u8),
    /// numeric(precision, scale).
    Numeric(u8, u8),
    Guid,
    Date,
    /// time(scale).
    Time(u8),
    DateTime2(u8),
    DateTimeOffset(u8),
    /// char(n), varchar(n): code page 1252 bytes.
    Char(u16),
    VarChar(u16),
    /// nchar(n), nvarchar(n): n characters.
    NChar(u16),
    NVarChar(u16),
    Binary(u16),
    VarBinary(u16),
    VarCharMax,
    NVarCharMax,
    VarBinaryMax,
    Text,
    NText,
    Image,
    Xml,
    Variant,
}

/// A value, in the terms SQL Server stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// money/smallmoney in units of 1/10000.
    Money(i64),
    /// decimal/numeric: the unscaled value (the column gives the scale).
    Dec(i128),
    /// uniqueidentifier as text (`a0eebc99-…`).
    Guid(&'static str),
    /// datetime/smalldatetime/date/datetime2 without fraction beyond what `ticks` gives:
    /// datetime: `frac` in 1/300 s; smalldatetime: seconds are dropped; date: time dropped.
    DateTime(NaiveDate, NaiveTime, u32),
    /// time/datetime2/datetimeoffset: date (ignored for time), time of day and the
    /// fraction in 100 ns units (0..10^7), scaled down to the column's scale on the wire.
    Precise(NaiveDate, NaiveTime, u32),
    /// datetimeoffset: UTC date, UTC time of day, 100 ns fraction, offset in minutes.
    Offset(NaiveDate, NaiveTime, u32, i16),
    Str(String),
    Bytes(Vec<u8>),
    /// sql_variant holding an int or an nvarchar.
    VariantInt(i32),
    VariantStr(String),
}

pub fn s(text: &str) -> V {
    V::Str(text.to_string())
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn time(h: u32, mi: u32, sec: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, mi, sec).unwrap()
}

/// A column of a result set.
#[derive(Debug, Clone)]
pub struct Col {
    pub name: String,
    pub ty: Ty,
}

pub fn col(name: &str, ty: Ty) -> Col {
    Col {
        name: name.to_string(),
        ty,
    }
}

/// The rows of a result set: listed, or made one by one while they are sent (a large
/// result never sits in memory as a whole).
#[derive(Clone)]
pub enum Rows {
    List(Vec<Vec<V>>),
    Generated(usize, Arc<dyn Fn(usize) -> Vec<V> + Send + Sync>),
}

/// One part of the answer to a batch, in order.
#[derive(Clone)]
pub enum Part {
    /// A result set: COLMETADATA, ROWs, DONE (with the row count).
    Set(Vec<Col>, Rows),
    /// A statement without a result set (`UPDATE …`): only a DONE with its row count.
    Count(u64),
    /// An ERROR token as the server sends it, ending the batch. After a `Set` it comes
    /// right after that set's rows (the statement failed part-way), as SQL Server does.
    Error {
        number: u32,
        class: u8,
        message: String,
    },
}

/// The answer to one registered batch.
#[derive(Clone)]
pub struct Reply(pub Vec<Part>);

impl Reply {
    pub fn set(cols: Vec<Col>, rows: Vec<Vec<V>>) -> Reply {
        Reply(vec![Part::Set(cols, Rows::List(rows))])
    }
}

fn put_b_varchar(buf: &mut BytesMut, text: &str) {
    let units: Vec<u16> = text.encode_utf16().collect();
    buf.put_u8(units.len() as u8);
    units.iter().for_each(|u| buf.put_u16_le(*u));
}

fn put_us_varchar(buf: &mut BytesMut, text: &str) {
    let units: Vec<u16> = text.encode_utf16().collect();
    buf.put_u16_le(units.len() as u16);
    units.iter().for_each(|u| buf.put_u16_le(*u));
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Code page 1252 bytes of `text` (the Latin-1 range; the tests use nothing else).
fn cp1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c as u32).expect("a Latin-1 character"))
        .collect()
}

/// Bytes of decimal/numeric's magnitude for a precision.
fn decimal_width(precision: u8) -> usize {
    match precision {
        1..=9 => 4,
        10..=19 => 8,
        20..=28 => 12,
        _ => 16,
    }
}

/// Bytes of time's value for a scale.
fn time_width(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

fn days_since(base: NaiveDate, d: NaiveDate) -> i64 {
    (d - base).num_days()
}

fn base_0001() -> NaiveDate {
    date(1, 1, 1)
}

fn base_1900() -> NaiveDate {
    date(1900, 1, 1)
}

/// A time of day plus a 100 ns fraction, as increments of 10^-scale seconds.
fn time_increments(t: NaiveTime, frac_100ns: u32, scale: u8) -> u64 {
    let hundreds = t.num_seconds_from_midnight() as u64 * 10_000_000 + frac_100ns as u64;
    hundreds / 10u64.pow(7 - scale as u32)
}

fn put_le(buf: &mut BytesMut, value: u64, width: usize) {
    buf.put_slice(&value.to_le_bytes()[..width]);
}

/// The mixed-endian wire form of a uniqueidentifier.
fn guid_bytes(text: &str) -> Vec<u8> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
        .collect();
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

impl Ty {
    /// TYPE_INFO (and, for text/ntext/image, the table name) of COLMETADATA.
    fn put_type_info(self, buf: &mut BytesMut) {
        match self {
            Ty::Int1 => buf.put_u8(0x30),
            Ty::Int2 => buf.put_u8(0x34),
            Ty::Int4 => buf.put_u8(0x38),
            Ty::Int8 => buf.put_u8(0x7F),
            Ty::IntN(n) => buf.put_slice(&[0x26, n]),
            Ty::Bit => buf.put_u8(0x32),
            Ty::BitN => buf.put_slice(&[0x68, 1]),
            Ty::Flt4 => buf.put_u8(0x3B),
            Ty::Flt8 => buf.put_u8(0x3E),
            Ty::FltN(n) => buf.put_slice(&[0x6D, n]),
            Ty::Money => buf.put_u8(0x3C),
            Ty::Money4 => buf.put_u8(0x7A),
            Ty::MoneyN(n) => buf.put_slice(&[0x6E, n]),
            Ty::DateTime => buf.put_u8(0x3D),
            Ty::DateTime4 => buf.put_u8(0x3A),
            Ty::DateTimeN(n) => buf.put_slice(&[0x6F, n]),
            Ty::Decimal(p, sc) => {
                buf.put_slice(&[0x6A, 1 + decimal_width(p) as u8, p, sc]);
            }
            Ty::Numeric(p, sc) => {
                buf.put_slice(&[0x6C, 1 + decimal_width(p) as u8, p, sc]);
            }
            Ty::Guid => buf.put_slice(&[0x24, 16]),
            Ty::Date => buf.put_u8(0x28),
            Ty::Time(sc) => buf.put_slice(&[0x29, sc]),
            Ty::DateTime2(sc) => buf.put_slice(&[0x2A, sc]),
            Ty::DateTimeOffset(sc) => buf.put_slice(&[0x2B, sc]),
            Ty::Char(n) | Ty::VarChar(n) => {
                buf.put_u8(if matches!(self, Ty::Char(_)) {
                    0xAF
                } else {
                    0xA7
                });
                buf.put_u16_le(n);
                buf.put_slice(&LATIN1);
            }
            Ty::NChar(n) | Ty::NVarChar(n) => {
                buf.put_u8(if matches!(self, Ty::NChar(_)) {
                    0xEF
                } else {
                    0xE7
                });
                buf.put_u16_le(n * 2);
                buf.put_slice(&LATIN1);
            }
            Ty::Binary(n) => {
                buf.put_u8(0xAD);
                buf.put_u16_le(n);
            }
            Ty::VarBinary(n) => {
                buf.put_u8(0xA5);
                buf.put_u16_le(n);
            }
            Ty::VarCharMax => {
                buf.put_u8(0xA7);
                buf.put_u16_le(0xFFFF);
                buf.put_slice(&LATIN1);
            }
            Ty::NVarCharMax => {
                buf.put_u8(0xE7);
                buf.put_u16_le(0xFFFF);
                buf.put_slice(&LATIN1);
            }
            Ty::VarBinaryMax => {
                buf.put_u8(0xA5);
                buf.put_u16_le(0xFFFF);
            }
            Ty::Text | Ty::NText | Ty::Image => {
                buf.put_u8(match self {
                    Ty::Text => 0x23,
                    Ty::NText => 0x63,
                    _ => 0x22,
                });
                buf.put_u32_le(0x7FFF_FFFF);
                if self != Ty::Image {
                    buf.put_slice(&LATIN1);
                }
                // The table name, in parts: dbo.notes.
                buf.put_u8(2);
                put_us_varchar(buf, "dbo");
                put_us_varchar(buf, "notes");
            }
            Ty::Xml => buf.put_slice(&[0xF1, 0]), // no schema
            Ty::Variant => {
                buf.put_u8(0x62);
                buf.put_u32_le(8016);
            }
        }
    }

    fn nullable(self) -> bool {
        !matches!(
            self,
            Ty::Int1
                | Ty::Int2
                | Ty::Int4
                | Ty::Int8
                | Ty::Bit
                | Ty::Flt4
                | Ty::Flt8
                | Ty::Money
                | Ty::Money4
                | Ty::DateTime
                | Ty::DateTime4
        )
    }

    /// The value's bytes in a ROW token.
    fn put_value(self, v: &V, buf: &mut BytesMut) {
        // The mock's own encoder where it has the type.
        let mock = |value: ColumnValue, buf: &mut BytesMut| value.write_to_buffer(buf);
        match (self, v) {
            (Ty::IntN(_), V::Int(n)) => match self {
                Ty::IntN(1) => mock(ColumnValue::TinyInt(*n as u8), buf),
                Ty::IntN(2) => mock(ColumnValue::SmallInt(*n as i16), buf),
                Ty::IntN(4) => mock(ColumnValue::Int(*n as i32), buf),
                _ => mock(ColumnValue::BigInt(*n), buf),
            },
            (Ty::NVarChar(_), V::Str(t)) => mock(ColumnValue::NVarChar(t.clone()), buf),
            (Ty::NVarCharMax, V::Str(t)) => {
                let units: Vec<u16> = t.encode_utf16().collect();
                // Two chunks when there is enough text, to cross a chunk boundary.
                let chunks: Vec<Vec<u16>> = if units.len() > 1 {
                    let (a, b) = units.split_at(units.len() / 2);
                    vec![a.to_vec(), b.to_vec()]
                } else if units.is_empty() {
                    vec![]
                } else {
                    vec![units]
                };
                mock(ColumnValue::NVarCharMax(chunks), buf)
            }
            (Ty::NVarCharMax | Ty::VarCharMax | Ty::VarBinaryMax | Ty::Xml, V::Null) => {
                mock(ColumnValue::NVarCharMaxNull, buf)
            }
            (Ty::VarCharMax, V::Str(t)) => mock(ColumnValue::VarCharMax(plp(cp1252(t))), buf),
            (Ty::VarBinaryMax, V::Bytes(b)) => mock(ColumnValue::VarBinaryMax(plp(b.clone())), buf),
            (Ty::Xml, V::Str(t)) => {
                let units: Vec<u16> = t.encode_utf16().collect();
                mock(ColumnValue::NVarCharMax(vec![units]), buf)
            }
            // Byte-length types: a zero length is NULL.
            (
                Ty::IntN(_)
                | Ty::BitN
                | Ty::FltN(_)
                | Ty::MoneyN(_)
                | Ty::DateTimeN(_)
                | Ty::Decimal(..)
                | Ty::Numeric(..)
                | Ty::Guid
                | Ty::Date
                | Ty::Time(_)
                | Ty::DateTime2(_)
                | Ty::DateTimeOffset(_),
                V::Null,
            ) => mock(ColumnValue::Null, buf),
            // Two-byte-length types: 0xFFFF is NULL.
            (
                Ty::Char(_)
                | Ty::VarChar(_)
                | Ty::NChar(_)
                | Ty::NVarChar(_)
                | Ty::Binary(_)
                | Ty::VarBinary(_),
                V::Null,
            ) => buf.put_u16_le(0xFFFF),
            // text/ntext/image: no text pointer is NULL.
            (Ty::Text | Ty::NText | Ty::Image, V::Null) => buf.put_u8(0),
            (Ty::Variant, V::Null) => buf.put_u32_le(0),
            (Ty::Int1, V::Int(n)) => buf.put_u8(*n as u8),
            (Ty::Int2, V::Int(n)) => buf.put_i16_le(*n as i16),
            (Ty::Int4, V::Int(n)) => buf.put_i32_le(*n as i32),
            (Ty::Int8, V::Int(n)) => buf.put_i64_le(*n),
            (Ty::Bit, V::Bool(b)) => buf.put_u8(*b as u8),
            (Ty::BitN, V::Bool(b)) => buf.put_slice(&[1, *b as u8]),
            (Ty::Flt4, V::Float(f)) => buf.put_f32_le(*f as f32),
            (Ty::Flt8, V::Float(f)) => buf.put_f64_le(*f),
            (Ty::FltN(4), V::Float(f)) => {
                buf.put_u8(4);
                buf.put_f32_le(*f as f32);
            }
            (Ty::FltN(_), V::Float(f)) => {
                buf.put_u8(8);
                buf.put_f64_le(*f);
            }
            (Ty::Money4 | Ty::MoneyN(4), V::Money(m)) => {
                if self != Ty::Money4 {
                    buf.put_u8(4);
                }
                buf.put_i32_le(*m as i32);
            }
            (Ty::Money | Ty::MoneyN(_), V::Money(m)) => {
                if self != Ty::Money {
                    buf.put_u8(8);
                }
                buf.put_i32_le((*m >> 32) as i32);
                buf.put_u32_le(*m as u32);
            }
            (Ty::DateTime4 | Ty::DateTimeN(4), V::DateTime(d, t, _)) => {
                if self != Ty::DateTime4 {
                    buf.put_u8(4);
                }
                buf.put_u16_le(days_since(base_1900(), *d) as u16);
                buf.put_u16_le((t.num_seconds_from_midnight() / 60) as u16);
            }
            (Ty::DateTime | Ty::DateTimeN(_), V::DateTime(d, t, frac300)) => {
                if self != Ty::DateTime {
                    buf.put_u8(8);
                }
                buf.put_i32_le(days_since(base_1900(), *d) as i32);
                buf.put_u32_le(t.num_seconds_from_midnight() * 300 + frac300);
            }
            (Ty::Decimal(p, _) | Ty::Numeric(p, _), V::Dec(n)) => {
                let width = decimal_width(p);
                buf.put_u8(1 + width as u8);
                buf.put_u8(if *n < 0 { 0 } else { 1 });
                buf.put_slice(&n.unsigned_abs().to_le_bytes()[..width]);
            }
            (Ty::Guid, V::Guid(g)) => {
                buf.put_u8(16);
                buf.put_slice(&guid_bytes(g));
            }
            (Ty::Date, V::DateTime(d, ..) | V::Precise(d, ..)) => {
                buf.put_u8(3);
                put_le(buf, days_since(base_0001(), *d) as u64, 3);
            }
            (Ty::Time(sc), V::Precise(_, t, frac)) => {
                let w = time_width(sc);
                buf.put_u8(w as u8);
                put_le(buf, time_increments(*t, *frac, sc), w);
            }
            (Ty::DateTime2(sc), V::Precise(d, t, frac)) => {
                let w = time_width(sc);
                buf.put_u8(w as u8 + 3);
                put_le(buf, time_increments(*t, *frac, sc), w);
                put_le(buf, days_since(base_0001(), *d) as u64, 3);
            }
            (Ty::DateTimeOffset(sc), V::Offset(d, t, frac, offset)) => {
                let w = time_width(sc);
                buf.put_u8(w as u8 + 5);
                put_le(buf, time_increments(*t, *frac, sc), w);
                put_le(buf, days_since(base_0001(), *d) as u64, 3);
                buf.put_i16_le(*offset);
            }
            (Ty::Char(_) | Ty::VarChar(_), V::Str(t)) => {
                let b = cp1252(t);
                buf.put_u16_le(b.len() as u16);
                buf.put_slice(&b);
            }
            (Ty::NChar(_), V::Str(t)) => {
                let b = utf16(t);
                buf.put_u16_le(b.len() as u16);
                buf.put_slice(&b);
            }
            (Ty::Binary(_) | Ty::VarBinary(_), V::Bytes(b)) => {
                buf.put_u16_le(b.len() as u16);
                buf.put_slice(b);
            }
            (Ty::Text | Ty::NText | Ty::Image, V::Str(_) | V::Bytes(_)) => {
                let data = match (self, v) {
                    (Ty::Text, V::Str(t)) => cp1252(t),
                    (Ty::NText, V::Str(t)) => utf16(t),
                    (_, V::Bytes(b)) => b.clone(),
                    _ => panic!("{self:?} cannot hold {v:?}"),
                };
                buf.put_u8(16); // text pointer
                buf.put_slice(&[0xAB; 16]);
                buf.put_slice(&[0; 8]); // timestamp
                buf.put_u32_le(data.len() as u32);
                buf.put_slice(&data);
            }
            (Ty::Variant, V::VariantInt(n)) => {
                buf.put_u32_le(2 + 4);
                buf.put_slice(&[0x38, 0]); // int, no properties
                buf.put_i32_le(*n);
            }
            (Ty::Variant, V::VariantStr(t)) => {
                let b = utf16(t);
                buf.put_u32_le(2 + 7 + b.len() as u32);
                buf.put_slice(&[0xE7, 7]); // nvarchar: collation and max length
                buf.put_slice(&LATIN1);
                buf.put_u16_le(8000);
                buf.put_slice(&b);
            }
            _ => panic!("{self:?} cannot hold {v:?}"),
        }
    }
}

/// PLP chunks of a value: two when it has at least two bytes.
fn plp(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    match bytes.len() {
        0 => vec![],
        1 => vec![bytes],
        n => {
            let (a, b) = bytes.split_at(n / 2);
            vec![a.to_vec(), b.to_vec()]
        }
    }
}

fn put_colmetadata(buf: &mut BytesMut, cols: &[Col]) {
    buf.put_u8(0x81);
    buf.put_u16_le(cols.len() as u16);
    for c in cols {
        buf.put_u32_le(0); // user type
        buf.put_u16_le(if c.ty.nullable() { 0x0001 } else { 0x0000 });
        c.ty.put_type_info(buf);
        put_b_varchar(buf, &c.name);
    }
}

const DONE_MORE: u16 = 0x0001;
const DONE_COUNT: u16 = 0x0010;

fn put_done(buf: &mut BytesMut, status: u16, rows: u64) {
    buf.put_u8(0xFD);
    buf.put_u16_le(status);
    buf.put_u16_le(0x00C1); // SELECT
    buf.put_u64_le(rows);
}

/// Writes a token stream as TDS packets of at most [`PACKET_SIZE`] bytes, sending each as
/// soon as it is full.
struct PacketWriter<'a, W> {
    out: &'a mut W,
    buf: BytesMut,
    id: u8,
}

impl<'a, W: AsyncWrite + Unpin> PacketWriter<'a, W> {
    fn new(out: &'a mut W) -> Self {
        PacketWriter {
            out,
            buf: BytesMut::with_capacity(PACKET_SIZE * 2),
            id: 1,
        }
    }

    async fn flush_full(&mut self) -> io::Result<()> {
        while self.buf.len() >= PACKET_SIZE - PACKET_HEADER_SIZE {
            let body = self.buf.split_to(PACKET_SIZE - PACKET_HEADER_SIZE);
            self.send(&body, false).await?;
        }
        Ok(())
    }

    async fn send(&mut self, body: &[u8], last: bool) -> io::Result<()> {
        let header = PacketHeader {
            packet_type: PacketType::TabularResult,
            status: if last {
                PacketStatus::end_of_message()
            } else {
                PacketStatus::normal()
            },
            length: (PACKET_HEADER_SIZE + body.len()) as u16,
            spid: 0,
            packet_id: self.id,
            window: 0,
        };
        self.id = self.id.wrapping_add(1);
        let mut packet = BytesMut::with_capacity(PACKET_HEADER_SIZE + body.len());
        header.write(&mut packet);
        packet.put_slice(body);
        self.out.write_all(&packet).await
    }

    async fn finish(mut self) -> io::Result<()> {
        self.flush_full().await?;
        let rest = std::mem::take(&mut self.buf);
        self.send(&rest, true).await?;
        self.out.flush().await
    }
}

async fn write_reply<W: AsyncWrite + Unpin>(out: &mut W, reply: &Reply) -> io::Result<()> {
    let mut w = PacketWriter::new(out);
    let parts = &reply.0;
    for (i, part) in parts.iter().enumerate() {
        let more = if i + 1 < parts.len() { DONE_MORE } else { 0 };
        match part {
            Part::Set(cols, rows) => {
                put_colmetadata(&mut w.buf, cols);
                let mut count = 0u64;
                let mut put_row = |w: &mut PacketWriter<'_, W>, row: &[V]| {
                    assert_eq!(row.len(), cols.len(), "a row has one value per column");
                    w.buf.put_u8(0xD1);
                    for (c, v) in cols.iter().zip(row) {
                        c.ty.put_value(v, &mut w.buf);
                    }
                    count += 1;
                };
                match rows {
                    Rows::List(list) => {
                        for row in list {
                            put_row(&mut w, row);
                            w.flush_full().await?;
                        }
                    }
                    Rows::Generated(n, make) => {
                        for i in 0..*n {
                            put_row(&mut w, &make(i));
                            w.flush_full().await?;
                        }
                    }
                }
                // A statement that fails part-way ends with its ERROR, not a DONE.
                if !matches!(parts.get(i + 1), Some(Part::Error { .. })) {
                    put_done(&mut w.buf, DONE_COUNT | more, count);
                }
            }
            Part::Count(n) => put_done(&mut w.buf, DONE_COUNT | more, *n),
            Part::Error {
                number,
                class,
                message,
            } => {
                // The mock's ERROR + DONE(error) tokens.
                let error = TerminalError::new(*number, *class, message.clone());
                w.buf
                    .put_slice(&protocol::build_terminal_error_tokens(&error));
            }
        }
        w.flush_full().await?;
    }
    w.finish().await
}

// ---------- LOGIN7 ----------

/// What a client sent in its LOGIN7 packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub user: String,
    /// The password matched the one the server accepts.
    pub password_ok: bool,
    pub database: Option<String>,
    pub app_name: String,
    /// The OptionFlags2 integrated-security bit (Windows/SSPI login).
    pub integrated: bool,
}

/// The string an offset/length pair of LOGIN7 points to (`entry`: the pair's position).
fn login_field(body: &[u8], entry: usize) -> Vec<u8> {
    let at = u16::from_le_bytes([body[entry], body[entry + 1]]) as usize;
    let chars = u16::from_le_bytes([body[entry + 2], body[entry + 3]]) as usize;
    body[at..at + chars * 2].to_vec()
}

fn from_utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// User name and password of a LOGIN7 body ([MS-TDS] 2.2.6.4: the password's bytes have
/// their nibbles swapped and are XORed with 0xA5).
fn login_credentials(body: &[u8]) -> (String, String, Option<String>, String, bool) {
    let user = from_utf16(&login_field(body, 40));
    let password: Vec<u8> = login_field(body, 44)
        .into_iter()
        .map(|b| (b ^ 0xA5).rotate_left(4))
        .collect();
    let app = from_utf16(&login_field(body, 48));
    let database = Some(from_utf16(&login_field(body, 68))).filter(|d| !d.is_empty());
    let integrated = body[25] & 0x80 != 0;
    (user, from_utf16(&password), database, app, integrated)
}

// ---------- The server ----------

#[derive(Default)]
struct Shared {
    /// User and password the server accepts; `None`: any.
    credentials: Option<(String, String)>,
    replies: Mutex<HashMap<String, Reply>>,
    logins: Mutex<Vec<Login>>,
    batches: Mutex<Vec<String>>,
}

/// The mock's connection processor behind a thin layer (see the module documentation).
pub struct TdsServer {
    pub addr: SocketAddr,
    registry: Arc<tokio::sync::Mutex<QueryRegistry>>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TdsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TdsServer {
    /// A server on 127.0.0.1 accepting the login `user`/`password`.
    pub async fn start(user: &str, password: &str) -> TdsServer {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), Some((user, password))).await
    }

    /// A server on `ip` (any loopback address), checking the credentials when given.
    pub async fn start_on(ip: IpAddr, credentials: Option<(&str, &str)>) -> TdsServer {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = Arc::new(tokio::sync::Mutex::new(QueryRegistry::new()));
        let shared = Arc::new(Shared {
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
            ..Default::default()
        });
        let ids = Arc::new(AtomicU64::new(0));
        let (r, s) = (registry.clone(), shared.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, peer)) = listener.accept().await {
                let id = ids.fetch_add(1, Ordering::SeqCst);
                let (r, s) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, peer, id, r, s).await;
                });
            }
        });
        TdsServer {
            addr,
            registry,
            shared,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The mock's own registry (`SELECT 1` is in it; error-only and plain result sets).
    pub fn registry(&self) -> Arc<tokio::sync::Mutex<QueryRegistry>> {
        self.registry.clone()
    }

    /// Answer the batch `sql` (exact text) with `reply`.
    pub fn reply(&self, sql: &str, reply: Reply) {
        self.shared
            .replies
            .lock()
            .unwrap()
            .insert(sql.trim().to_string(), reply);
    }

    /// Every LOGIN7 received, in order.
    pub fn logins(&self) -> Vec<Login> {
        self.shared.logins.lock().unwrap().clone()
    }

    /// Every SQL batch received, in order.
    pub fn batches(&self) -> Vec<String> {
        self.shared.batches.lock().unwrap().clone()
    }
}

/// Reads one whole TDS packet.
async fn read_packet(socket: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut header = [0u8; PACKET_HEADER_SIZE];
    socket.read_exact(&mut header).await?;
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    let mut body = vec![0u8; len.saturating_sub(PACKET_HEADER_SIZE)];
    socket.read_exact(&mut body).await?;
    Ok(body)
}

/// The type and length of the complete packet at the front of `buf`, if there is one.
fn complete_packet(buf: &BytesMut) -> io::Result<Option<(u8, usize)>> {
    if buf.len() < PACKET_HEADER_SIZE {
        return Ok(None);
    }
    let ty = buf[0];
    if PacketType::try_from(ty).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("packet type {ty:#x}"),
        ));
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    Ok((buf.len() >= len).then_some((ty, len)))
}

async fn serve(
    mut socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    registry: Arc<tokio::sync::Mutex<QueryRegistry>>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    // PRELOGIN: the mock's answer without encryption (ENCRYPT_NOT_SUP), as a SQL Server
    // without a certificate gives.
    read_packet(&mut socket).await?;
    socket
        .write_all(&protocol::build_prelogin_response())
        .await?;
    let mut processor = ConnectionProcessor::new(id, peer, registry, None);
    loop {
        if socket.read_buf(processor.buffer_mut()).await? == 0 {
            return Ok(());
        }
        while let Some((ty, len)) = complete_packet(processor.buffer_mut())? {
            let body = processor.buffer_mut()[PACKET_HEADER_SIZE..len].to_vec();
            if ty == PacketType::Login7 as u8 {
                let (user, password, database, app_name, integrated) = login_credentials(&body);
                let ok = shared
                    .credentials
                    .as_ref()
                    .is_none_or(|(u, p)| *u == user && *p == password);
                shared.logins.lock().unwrap().push(Login {
                    user: user.clone(),
                    password_ok: ok,
                    database,
                    app_name,
                    integrated,
                });
                if !ok {
                    // SQL Server's answer to a wrong login, then it closes the connection.
                    processor.buffer_mut().advance(len);
                    let reply = Reply(vec![Part::Error {
                        number: 18456,
                        class: 14,
                        message: format!("Login failed for user '{user}'."),
                    }]);
                    write_reply(&mut socket, &reply).await?;
                    return Ok(());
                }
            } else if ty == PacketType::SqlBatch as u8 {
                let sql = protocol::parse_sql_batch(&body)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                shared.batches.lock().unwrap().push(sql.clone());
                let reply = shared.replies.lock().unwrap().get(sql.trim()).cloned();
                if let Some(reply) = reply {
                    processor.buffer_mut().advance(len);
                    write_reply(&mut socket, &reply).await?;
                    continue;
                }
            }
            // Everything else is the mock's: LOGINACK, registered queries, attention, …
            if let Some(response) = processor
                .process_packet(&mut socket)
                .await
                .map_err(|e| io::Error::other(e.to_string()))?
            {
                socket.write_all(&response).await?;
            }
        }
    }
}

// ---------- TLS ----------

/// A TCP relay in front of the mock in TLS mode (`MockTdsServer::new_with_tls`): bytes pass
/// unchanged, except that the TDS packets carrying the server's half of the TLS handshake
/// are relabelled from type 4 (tabular result, what the mock sends) to 0x12 (pre-login, what
/// SQL Server sends and tiberius requires). Once the server sends a bare TLS record, the
/// rest passes through untouched.
pub async fn tls_relay(server: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, server));
        }
    });
    addr
}

async fn relay(client: TcpStream, server: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect(server).await?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let mut first = true; // the PRELOGIN answer itself is a tabular result
    loop {
        let mut header = [0u8; PACKET_HEADER_SIZE];
        sr.read_exact(&mut header[..1]).await?;
        if (0x14..=0x17).contains(&header[0]) {
            // A TLS record: the handshake is over.
            cw.write_all(&header[..1]).await?;
            tokio::io::copy(&mut sr, &mut cw).await?;
            return Ok(());
        }
        sr.read_exact(&mut header[1..]).await?;
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(PACKET_HEADER_SIZE)];
        sr.read_exact(&mut body).await?;
        if !first && header[0] == PacketType::TabularResult as u8 {
            header[0] = PacketType::PreLogin as u8;
        }
        first = false;
        cw.write_all(&header).await?;
        cw.write_all(&body).await?;
    }
}

// ---------- SQL Server Browser ----------

/// Answers SSRP `CLNT_UCAST_INST` requests on UDP `ip:1434` for one instance name with its
/// TCP port, and stays silent for other names (as SQL Server Browser does).
pub struct SqlBrowser {
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SqlBrowser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SqlBrowser {
    pub async fn start(ip: IpAddr, instance: &str, tcp_port: u16) -> io::Result<SqlBrowser> {
        let socket = UdpSocket::bind((ip, 1434)).await?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let instance = instance.to_string();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let request = buf[..n].to_vec();
                seen.lock().unwrap().push(request.clone());
                // CLNT_UCAST_INST (4), then the instance name (optionally NUL-terminated).
                let name = String::from_utf8_lossy(&request[1..]);
                let name = name.trim_end_matches('\0');
                if request.first() != Some(&4) || !name.eq_ignore_ascii_case(&instance) {
                    continue;
                }
                let text = format!(
                    "ServerName;TESTHOST;InstanceName;{instance};IsClustered;No;Version;16.0.1000.6;tcp;{tcp_port};;"
                );
                let mut reply = vec![0x05]; // SVR_RESP
                reply.extend_from_slice(&(text.len() as u16).to_le_bytes());
                reply.extend_from_slice(text.as_bytes());
                let _ = socket.send_to(&reply, from).await;
            }
        });
        Ok(SqlBrowser { requests, task })
    }
}

/// A loopback address of its own (127.x.y.z) for a test that needs a fixed port, such as
/// SQL Browser's UDP 1434, without meeting other tests or other runs on 127.0.0.1.
pub fn own_loopback() -> IpAddr {
    let r: u32 = rand::random();
    let (a, b, c) = (
        ((r >> 16) as u8).clamp(1, 254),
        (r >> 8) as u8,
        (r as u8).clamp(2, 254),
    );
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}
