//! Market data: bars, symbol tables, CSV loading and the binary recording.
//!
//! Recorded data arrives in many CSV dialects; this module normalises them to
//! one [`Recording`]: a symbol table and bars sorted by time (ties broken by
//! symbol id), which is exactly the order a live feed delivers. Bad data is an
//! error naming file, line and field — never a panic, never a silent skip —
//! unless the user asks for a documented [`Repair`].
//!
//! Accepted CSV layouts:
//! - a header with a time column named `date`, `datetime`, `timestamp`,
//!   `time`, `open_time` or left empty (pandas' index), and `open`, `high`,
//!   `low`, `close`, `volume` (any case, any order; extra columns ignored;
//!   an optional `symbol`/`ticker` column for several symbols in one file);
//! - no header, as in Binance's published klines: the first six columns are
//!   open time, open, high, low, close, volume.
//!
//! Times may be ISO dates (`2024-01-31`), ISO datetimes (`2024-01-31
//! 09:30:00`, `2024-01-31T09:30:00Z`, with an offset), or Unix integers in
//! seconds, milliseconds or microseconds (told apart by magnitude). All times
//! are UTC; a bar's time is the open of its interval.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Index into a [`Recording`]'s symbol table.
pub type SymbolId = u32;

/// One OHLCV bar.
#[derive(
    Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct Bar {
    /// Symbol index.
    pub symbol: SymbolId,
    /// Open time, UTC milliseconds since the epoch.
    pub time_ms: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

/// Bars of one or more symbols in delivery order.
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct Recording {
    /// Symbol names; a bar's `symbol` indexes this.
    pub symbols: Vec<String>,
    /// Bars sorted by `(time_ms, symbol)`.
    pub bars: Vec<Bar>,
}

/// What is wrong with a data file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The file has no rows.
    #[error("no bars in file")]
    Empty,
    /// A required column is missing from the header.
    #[error("missing column `{0}` (header has: {1})")]
    MissingColumn(&'static str, String),
    /// A row has fewer fields than the layout needs.
    #[error("expected at least {expected} fields, found {found}")]
    ShortRow {
        /// Fields needed.
        expected: usize,
        /// Fields present.
        found: usize,
    },
    /// A field does not parse.
    #[error("field `{field}`: cannot parse {value:?} as {what}")]
    Unparsable {
        /// Column name.
        field: &'static str,
        /// The offending text.
        value: String,
        /// What was expected.
        what: &'static str,
    },
    /// NaN, infinite or negative volume; or a price that is not positive.
    #[error("field `{field}`: {value} is not a finite {}", if *field == "volume" { "non-negative number" } else { "positive price" })]
    NotFinite {
        /// Column name.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// A time outside 1900–2199 (a unit misread, or a corrupt value).
    #[error("field `time`: {value:?} is {time}, outside the years 1900–2199")]
    TimeOutOfRange {
        /// The text.
        value: String,
        /// What it was read as.
        time: String,
    },
    /// A row's symbol is empty.
    #[error("field `symbol` is empty")]
    EmptySymbol,
    /// High and low do not bracket the bar.
    #[error("inconsistent bar: {0}")]
    Inconsistent(String),
    /// A bar's time is before the previous bar of the same symbol.
    #[error(
        "time goes backwards for {symbol}: {time} after {previous} (use --repair sort to sort)"
    )]
    Backwards {
        /// Symbol.
        symbol: String,
        /// This bar's time.
        time: String,
        /// Previous bar's time.
        previous: String,
    },
    /// Two bars of a symbol share a time.
    #[error(
        "duplicate bar for {symbol} at {time} (first at line {first_line}; use --repair dedupe to keep the first)"
    )]
    Duplicate {
        /// Symbol.
        symbol: String,
        /// Time.
        time: String,
        /// Line of the first bar.
        first_line: u64,
    },
    /// Two files have a bar of the same symbol at the same time.
    #[error(
        "duplicate bar for {symbol} at {time} (also in {first_file}; use --repair dedupe to keep the first file's)"
    )]
    DuplicateAcross {
        /// Symbol.
        symbol: String,
        /// Time.
        time: String,
        /// The file whose bar came first.
        first_file: String,
    },
    /// Not a Sandbar recording, or a corrupt one.
    #[error("not a valid recording: {0}")]
    BadRecording(String),
}

/// A data error with its location.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DataError {
    /// File.
    pub file: PathBuf,
    /// 1-based line, when the error is about a line.
    pub line: Option<u64>,
    /// What is wrong.
    pub kind: DataErrorKind,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.kind),
            None => write!(f, "{}: {}", self.file.display(), self.kind),
        }
    }
}

/// Repairs a user may ask for; without them the matching problems are errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// Sort bars that arrive out of time order.
    pub sort: bool,
    /// Keep the first of bars with the same symbol and time; drop the rest.
    pub dedupe: bool,
    /// Widen high/low to include open and close when they do not.
    pub clamp: bool,
}

impl std::str::FromStr for Repair {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut r = Repair::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "sort" => r.sort = true,
                "dedupe" => r.dedupe = true,
                "clamp" => r.clamp = true,
                other => {
                    return Err(format!(
                        "unknown repair `{other}` (expected sort, dedupe, clamp)"
                    ));
                }
            }
        }
        Ok(r)
    }
}

/// What a repair changed, for the log and the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairLog {
    /// Bars moved by sorting.
    pub sorted: bool,
    /// Duplicate bars dropped.
    pub dropped_duplicates: u64,
    /// Bars whose high/low were widened.
    pub clamped: u64,
}

/// Render epoch milliseconds as an ISO-8601 UTC time.
pub fn format_time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 86_400_000 == 0 => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms}ms"),
    }
}

/// Earliest time accepted: 1900-01-01 (UTC, epoch milliseconds).
pub const MIN_TIME_MS: i64 = -2_208_988_800_000;
/// First time refused: 2200-01-01.
pub const MAX_TIME_MS: i64 = 7_258_118_400_000;

/// Parse a time field to epoch milliseconds.
///
/// Integers: eight digits that form a calendar date in 1900–2199 are a
/// `YYYYMMDD` date (`20240131`, not 1970-08-23 in Unix seconds); otherwise
/// the magnitude tells the unit — below 10¹¹ seconds, below 10¹⁴
/// milliseconds, below 10¹⁷ microseconds, else nanoseconds. Callers refuse
/// results outside [`MIN_TIME_MS`]..[`MAX_TIME_MS`].
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        if s.len() == 8
            && let Some(d) = chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
                .ok()
                .filter(|d| (1900..2200).contains(&chrono::Datelike::year(d)))
        {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
        }
        return Some(match n.unsigned_abs() {
            0..100_000_000_000 => n.checked_mul(1000)?,
            100_000_000_000..100_000_000_000_000 => n,
            100_000_000_000_000..100_000_000_000_000_000 => n / 1000,
            _ => n / 1_000_000,
        });
    }
    if s.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z") {
        return Some(t.timestamp_millis());
    }
    None
}

/// Where each field lives in a row.
struct Layout {
    time: usize,
    ohlcv: [usize; 5],
    symbol: Option<usize>,
    header: bool,
}

const NAMES: [&str; 5] = ["open", "high", "low", "close", "volume"];

impl Layout {
    fn detect(first: &csv::ByteRecord) -> Result<Layout, DataErrorKind> {
        let first_field = String::from_utf8_lossy(first.get(0).unwrap_or_default());
        if parse_time(&first_field).is_some() {
            // Headerless: Binance klines and plain time,o,h,l,c,v files.
            if first.len() < 6 {
                return Err(DataErrorKind::ShortRow {
                    expected: 6,
                    found: first.len(),
                });
            }
            return Ok(Layout {
                time: 0,
                ohlcv: [1, 2, 3, 4, 5],
                symbol: None,
                header: false,
            });
        }
        let cols: Vec<String> = first
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
            .collect();
        let find = |names: &[&str]| cols.iter().position(|c| names.contains(&c.as_str()));
        let time = find(&[
            "",
            "date",
            "datetime",
            "timestamp",
            "time",
            "open_time",
            "opentime",
        ])
        .ok_or_else(|| DataErrorKind::MissingColumn("date", cols.join(",")))?;
        let mut ohlcv = [0; 5];
        for (slot, name) in ohlcv.iter_mut().zip(NAMES) {
            *slot =
                find(&[name]).ok_or_else(|| DataErrorKind::MissingColumn(name, cols.join(",")))?;
        }
        Ok(Layout {
            time,
            ohlcv,
            symbol: find(&["symbol", "ticker"]),
            header: true,
        })
    }
}

/// Options for loading CSV files.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Symbol name for files without a symbol column; default: the file stem.
    pub symbol: Option<String>,
    /// Repairs to apply instead of failing.
    pub repair: Repair,
}

/// Load one or several CSV or recording files into one recording, merged in time order.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<(Recording, RepairLog), DataError> {
    let mut merged = Recording::default();
    let mut index: HashMap<String, SymbolId> = HashMap::new();
    let mut log = RepairLog::default();
    // Which file each merged bar came from.
    let mut from: Vec<usize> = Vec::new();
    for (k, path) in paths.iter().enumerate() {
        let (rec, l) = load_one(path, opts)?;
        log.sorted |= l.sorted;
        log.dropped_duplicates += l.dropped_duplicates;
        log.clamped += l.clamped;
        let remap: Vec<SymbolId> = rec
            .symbols
            .iter()
            .map(|s| {
                let next = index.len() as SymbolId;
                *index.entry(s.clone()).or_insert_with(|| {
                    merged.symbols.push(s.clone());
                    next
                })
            })
            .collect();
        from.extend(std::iter::repeat_n(k, rec.bars.len()));
        merged.bars.extend(rec.bars.into_iter().map(|mut b| {
            b.symbol = remap[b.symbol as usize];
            b
        }));
    }
    if paths.len() > 1 {
        // Stable: within a file the order was already validated, and among
        // equal keys file order is kept, so dedupe keeps the first file's bar.
        let mut order: Vec<usize> = (0..merged.bars.len()).collect();
        order.sort_by_key(|&i| (merged.bars[i].time_ms, merged.bars[i].symbol));
        let mut bars: Vec<Bar> = Vec::with_capacity(order.len());
        let mut kept_from: Vec<usize> = Vec::with_capacity(order.len());
        for i in order {
            let b = merged.bars[i];
            if let Some(prev) = bars.last()
                && prev.time_ms == b.time_ms
                && prev.symbol == b.symbol
            {
                if opts.repair.dedupe {
                    log.dropped_duplicates += 1;
                    continue;
                }
                let first = &paths[*kept_from.last().expect("parallel")];
                return Err(DataError {
                    file: paths[from[i]].clone(),
                    line: None,
                    kind: DataErrorKind::DuplicateAcross {
                        symbol: merged.symbols[b.symbol as usize].clone(),
                        time: format_time(b.time_ms),
                        first_file: first.display().to_string(),
                    },
                });
            }
            bars.push(b);
            kept_from.push(from[i]);
        }
        merged.bars = bars;
    }
    Ok((merged, log))
}

fn load_one(path: &Path, opts: &LoadOptions) -> Result<(Recording, RepairLog), DataError> {
    let err = |line: Option<u64>, kind| DataError {
        file: path.to_path_buf(),
        line,
        kind,
    };
    let mut file =
        std::fs::File::open(path).map_err(|e| err(None, DataErrorKind::Io(e.to_string())))?;
    let mut magic = [0u8; 8];
    let n = file
        .read(&mut magic)
        .map_err(|e| err(None, DataErrorKind::Io(e.to_string())))?;
    drop(file);
    if n == 8 && magic == RECORDING_MAGIC {
        return read_recording(path).map(|r| (r, RepairLog::default()));
    }
    let default_symbol = opts.symbol.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "SYMBOL".into())
    });
    let bytes = std::fs::read(path).map_err(|e| err(None, DataErrorKind::Io(e.to_string())))?;
    parse_csv(&bytes, &default_symbol, opts.repair).map_err(|(line, kind)| err(line, kind))
}

/// One validated CSV row.
pub(crate) struct Row {
    /// 1-based line.
    pub line: u64,
    /// Symbol name (trimmed).
    pub symbol: String,
    /// The bar (its `symbol` field unset).
    pub bar: Bar,
}

/// Reads and validates a CSV one row at a time (the loader collects the
/// rows; the streaming reader of [`crate::data::stream`] does not).
pub(crate) struct CsvRows<R: Read> {
    reader: csv::Reader<R>,
    record: csv::ByteRecord,
    layout: Option<Layout>,
    default_symbol: String,
    repair: Repair,
    /// Bars whose high/low were widened (`clamp`).
    pub clamped: u64,
}

impl<R: Read> CsvRows<R> {
    pub(crate) fn new(input: R, default_symbol: &str, repair: Repair) -> Self {
        Self {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            record: csv::ByteRecord::new(),
            layout: None,
            default_symbol: default_symbol.into(),
            repair,
            clamped: 0,
        }
    }

    /// The next row, `None` at the end. Errors carry the 1-based line.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>, (Option<u64>, DataErrorKind)> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| {
                    let line = e.position().map(|p| p.line());
                    (line, DataErrorKind::Io(e.to_string()))
                })?;
            if !more {
                return Ok(None);
            }
            let record = &self.record;
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue; // blank line
            }
            let lay = match &self.layout {
                Some(l) => l,
                None => {
                    let l = Layout::detect(record).map_err(|k| (Some(line), k))?;
                    let header = l.header;
                    self.layout = Some(l);
                    if header {
                        continue;
                    }
                    self.layout.as_ref().expect("just set")
                }
            };
            let need = 1 + *lay
                .ohlcv
                .iter()
                .chain([&lay.time])
                .chain(lay.symbol.as_ref())
                .max()
                .unwrap_or(&0);
            if record.len() < need {
                return Err((
                    Some(line),
                    DataErrorKind::ShortRow {
                        expected: need,
                        found: record.len(),
                    },
                ));
            }
            let text = |i: usize| std::str::from_utf8(&record[i]).unwrap_or("").trim();
            let time_ms = parse_time(text(lay.time)).ok_or_else(|| {
                (
                    Some(line),
                    DataErrorKind::Unparsable {
                        field: "time",
                        value: text(lay.time).into(),
                        what: "a date, datetime or Unix time",
                    },
                )
            })?;
            if !(MIN_TIME_MS..MAX_TIME_MS).contains(&time_ms) {
                return Err((
                    Some(line),
                    DataErrorKind::TimeOutOfRange {
                        value: text(lay.time).into(),
                        time: format_time(time_ms),
                    },
                ));
            }
            let mut v = [0f64; 5];
            for (k, slot) in v.iter_mut().enumerate() {
                let t = text(lay.ohlcv[k]);
                *slot = t.parse::<f64>().map_err(|_| {
                    (
                        Some(line),
                        DataErrorKind::Unparsable {
                            field: NAMES[k],
                            value: t.into(),
                            what: "a number",
                        },
                    )
                })?;
                // Prices must be positive (a zero price cannot size an order);
                // volume may be zero (nothing traded).
                let bad = if k == 4 { *slot < 0.0 } else { *slot <= 0.0 };
                if !slot.is_finite() || bad {
                    return Err((
                        Some(line),
                        DataErrorKind::NotFinite {
                            field: NAMES[k],
                            value: *slot,
                        },
                    ));
                }
            }
            let [open, mut high, mut low, close, volume] = v;
            if high < low || high < open.max(close) || low > open.min(close) {
                if self.repair.clamp {
                    high = high.max(open).max(close).max(low);
                    low = low.min(open).min(close);
                    self.clamped += 1;
                } else {
                    return Err((
                        Some(line),
                        DataErrorKind::Inconsistent(format!(
                            "high {high} and low {low} do not bracket open {open} and close {close} (use --repair clamp to widen them)"
                        )),
                    ));
                }
            }
            // Symbols are compared trimmed: " AAPL" is AAPL, for the duplicate
            // check as for the strategy.
            let symbol = match lay.symbol {
                Some(i) => String::from_utf8_lossy(&record[i]).trim().to_string(),
                None => self.default_symbol.trim().to_string(),
            };
            if symbol.is_empty() {
                return Err((Some(line), DataErrorKind::EmptySymbol));
            }
            return Ok(Some(Row {
                line,
                symbol,
                bar: Bar {
                    symbol: 0,
                    time_ms,
                    open,
                    high,
                    low,
                    close,
                    volume,
                },
            }));
        }
    }
}

/// Parse CSV bytes. Errors carry the 1-based line.
pub fn parse_csv(
    bytes: &[u8],
    default_symbol: &str,
    repair: Repair,
) -> Result<(Recording, RepairLog), (Option<u64>, DataErrorKind)> {
    let mut rows = CsvRows::new(bytes, default_symbol, repair);
    let mut rec = Recording::default();
    let mut lines: Vec<u64> = Vec::new();
    let mut symbols: HashMap<String, SymbolId> = HashMap::new();
    let mut log = RepairLog::default();
    while let Some(row) = rows.next_row()? {
        let next = symbols.len() as SymbolId;
        let symbol = *symbols.entry(row.symbol.clone()).or_insert_with(|| {
            rec.symbols.push(row.symbol);
            next
        });
        rec.bars.push(Bar { symbol, ..row.bar });
        lines.push(row.line);
    }
    log.clamped = rows.clamped;
    if rec.bars.is_empty() {
        return Err((None, DataErrorKind::Empty));
    }
    check_order(&mut rec, &mut lines, repair, &mut log)?;
    Ok((rec, log))
}

/// Validate per-symbol time order; sort and dedupe when asked.
fn check_order(
    rec: &mut Recording,
    lines: &mut Vec<u64>,
    repair: Repair,
    log: &mut RepairLog,
) -> Result<(), (Option<u64>, DataErrorKind)> {
    let mut last: Vec<Option<(i64, u64)>> = vec![None; rec.symbols.len()];
    let mut needs_sort = false;
    for (bar, &line) in rec.bars.iter().zip(lines.iter()) {
        let slot = &mut last[bar.symbol as usize];
        if let Some((prev, first_line)) = *slot {
            let name = || rec.symbols[bar.symbol as usize].clone();
            if bar.time_ms < prev {
                if !repair.sort {
                    return Err((
                        Some(line),
                        DataErrorKind::Backwards {
                            symbol: name(),
                            time: format_time(bar.time_ms),
                            previous: format_time(prev),
                        },
                    ));
                }
                needs_sort = true;
                continue;
            }
            if bar.time_ms == prev && !repair.dedupe {
                return Err((
                    Some(line),
                    DataErrorKind::Duplicate {
                        symbol: name(),
                        time: format_time(bar.time_ms),
                        first_line,
                    },
                ));
            }
        }
        *slot = Some((bar.time_ms, line));
    }
    let mut order: Vec<usize> = (0..rec.bars.len()).collect();
    // Stable sort keeps file order among equal keys, so dedupe keeps the first.
    order.sort_by_key(|&i| (rec.bars[i].time_ms, rec.bars[i].symbol));
    log.sorted = needs_sort;
    let mut bars = Vec::with_capacity(rec.bars.len());
    let mut kept_lines = Vec::with_capacity(rec.bars.len());
    for i in order {
        let b = rec.bars[i];
        if let Some(prev) = bars
            .last()
            .copied()
            .filter(|p: &Bar| p.time_ms == b.time_ms && p.symbol == b.symbol)
        {
            let _ = prev;
            if repair.dedupe {
                log.dropped_duplicates += 1;
                continue;
            }
            let name = rec.symbols[b.symbol as usize].clone();
            return Err((
                Some(lines[i]),
                DataErrorKind::Duplicate {
                    symbol: name,
                    time: format_time(b.time_ms),
                    first_line: 0,
                },
            ));
        }
        bars.push(b);
        kept_lines.push(lines[i]);
    }
    rec.bars = bars;
    *lines = kept_lines;
    Ok(())
}

/// First bytes of a recording file: name and format version.
pub const RECORDING_MAGIC: [u8; 8] = *b"SBREC\x00\x01\x00";

fn recording_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<{ 1 << 34 }>()
}

/// Write a recording: magic, then bincode (fixed-width integers).
pub fn write_recording(path: &Path, rec: &Recording) -> Result<(), DataError> {
    let err = |e: String| DataError {
        file: path.to_path_buf(),
        line: None,
        kind: DataErrorKind::Io(e),
    };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let mut w = std::io::BufWriter::new(file);
    w.write_all(&RECORDING_MAGIC)
        .map_err(|e| err(e.to_string()))?;
    bincode::encode_into_std_write(rec, &mut w, recording_config())
        .map_err(|e| err(e.to_string()))?;
    w.flush().map_err(|e| err(e.to_string()))
}

/// Read a recording and check its invariants (sorted, symbols in range, finite).
pub fn read_recording(path: &Path) -> Result<Recording, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError {
        file: path.to_path_buf(),
        line: None,
        kind: DataErrorKind::Io(e.to_string()),
    })?;
    decode_recording(&bytes).map_err(|kind| DataError {
        file: path.to_path_buf(),
        line: None,
        kind,
    })
}

/// Decode recording bytes (with magic) and validate them.
pub fn decode_recording(bytes: &[u8]) -> Result<Recording, DataErrorKind> {
    let bad = |m: String| DataErrorKind::BadRecording(m);
    let body = bytes
        .strip_prefix(&RECORDING_MAGIC[..])
        .ok_or_else(|| bad("missing SBREC header".into()))?;
    let (rec, used): (Recording, usize) =
        bincode::decode_from_slice(body, recording_config()).map_err(|e| bad(e.to_string()))?;
    if used != body.len() {
        return Err(bad(format!("{} trailing bytes", body.len() - used)));
    }
    for (i, b) in rec.bars.iter().enumerate() {
        if b.symbol as usize >= rec.symbols.len() {
            return Err(bad(format!(
                "bar {i} names symbol {} of {}",
                b.symbol,
                rec.symbols.len()
            )));
        }
        let vals = [b.open, b.high, b.low, b.close, b.volume];
        if vals.iter().any(|v| !v.is_finite() || *v < 0.0)
            || vals[..4].iter().any(|p| *p <= 0.0)
            || b.high < b.low
            || !(MIN_TIME_MS..MAX_TIME_MS).contains(&b.time_ms)
        {
            return Err(bad(format!("bar {i} has invalid prices {vals:?}")));
        }
        if i > 0 && (rec.bars[i - 1].time_ms, rec.bars[i - 1].symbol) >= (b.time_ms, b.symbol) {
            return Err(bad(format!("bar {i} is out of order")));
        }
    }
    Ok(rec)
}

/// The median spacing between consecutive bars of the first symbol, in
/// milliseconds: the bar interval used for annualisation.
pub fn bar_interval_ms(rec: &Recording) -> Option<i64> {
    let sym = rec.bars.first()?.symbol;
    let times: Vec<i64> = rec
        .bars
        .iter()
        .filter(|b| b.symbol == sym)
        .map(|b| b.time_ms)
        .collect();
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Recording, (Option<u64>, DataErrorKind)> {
        parse_csv(s.as_bytes(), "X", Repair::default()).map(|r| r.0)
    }

    #[test]
    fn eight_digit_integers_are_dates_and_nanoseconds_are_nanoseconds() {
        // Issue 8.11: 20240131 was Unix seconds (1970-08-23); ns landed in year 55,000.
        assert_eq!(parse_time("20240131"), parse_time("2024-01-31"));
        assert_eq!(parse_time("1704067260000000000"), Some(1_704_067_260_000));
        assert_eq!(
            parse_time("1704067260"),
            Some(1_704_067_260_000),
            "seconds stay seconds"
        );
        assert_eq!(
            parse_time("99999999"),
            Some(99_999_999_000),
            "not a date: seconds"
        );
    }

    #[test]
    fn times_outside_1900_to_2199_are_refused_naming_the_value() {
        let e = parse("time,open,high,low,close,volume\n99999999999999,1,1,1,1,1\n").unwrap_err();
        assert_eq!(e.0, Some(2));
        assert!(
            matches!(e.1, DataErrorKind::TimeOutOfRange { .. }),
            "{:?}",
            e.1
        );
        assert!(e.1.to_string().contains("outside the years 1900–2199"));
    }

    #[test]
    fn a_zero_price_is_refused_and_zero_volume_is_not() {
        let e = parse("time,open,high,low,close,volume\n2024-01-01,1,1,0,0,1\n").unwrap_err();
        assert_eq!(
            e.1.to_string(),
            "field `low`: 0 is not a finite positive price"
        );
        assert!(parse("time,open,high,low,close,volume\n2024-01-01,1,1,1,1,0\n").is_ok());
    }

    #[test]
    fn symbols_are_compared_trimmed_so_padded_duplicates_are_caught() {
        let text = "time,symbol,open,high,low,close,volume\n2024-01-01, AAPL,1,1,1,1,1\n2024-01-01,AAPL,2,2,2,2,1\n";
        let e = parse(text).unwrap_err();
        assert!(matches!(e.1, DataErrorKind::Duplicate { .. }), "{:?}", e.1);
        let e =
            parse("time,symbol,open,high,low,close,volume\n2024-01-01, ,1,1,1,1,1\n").unwrap_err();
        assert_eq!(e.1, DataErrorKind::EmptySymbol);
    }

    #[test]
    fn dedupe_applies_across_files_and_keeps_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(
            &a,
            "time,symbol,open,high,low,close,volume\n2024-01-01,X,1,1,1,1,1\n",
        )
        .unwrap();
        std::fs::write(&b, "time,symbol,open,high,low,close,volume\n2024-01-01,X,2,2,2,2,1\n2024-01-02,X,3,3,3,3,1\n").unwrap();
        let paths = [a.clone(), b.clone()];
        let e = load(&paths, &LoadOptions::default()).unwrap_err();
        assert_eq!(e.file, b);
        assert!(e.to_string().contains("also in"), "{e}");
        let opts = LoadOptions {
            repair: "dedupe".parse().unwrap(),
            ..LoadOptions::default()
        };
        let (rec, log) = load(&paths, &opts).unwrap();
        assert_eq!(rec.bars.len(), 2);
        assert_eq!(rec.bars[0].open, 1.0);
        assert_eq!(log.dropped_duplicates, 1);
    }

    #[test]
    fn reads_pandas_layout_with_unnamed_date_column() {
        let r = parse(",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n")
            .unwrap();
        assert_eq!(r.symbols, vec!["X"]);
        assert_eq!(r.bars[0].time_ms, 1_092_873_600_000);
        assert_eq!(r.bars[0].close, 100.34);
    }

    #[test]
    fn reads_binance_klines_without_header() {
        let r = parse("1704067200000,42283.58,42298.62,42261.02,42298.61,35.92,1704067259999,1519031.69,1327,23.18,980394.71,0\n").unwrap();
        assert_eq!(r.bars[0].time_ms, 1_704_067_200_000);
        assert_eq!(r.bars[0].volume, 35.92);
    }

    #[test]
    fn reads_named_columns_in_any_order_with_symbols_and_seconds() {
        let r = parse("symbol,timestamp,close,open,low,high,volume\nA,1700000000,2,1,1,2,5\nB,1700000000,3,3,3,3,1\n").unwrap();
        assert_eq!(r.symbols, vec!["A", "B"]);
        assert_eq!(r.bars[1].symbol, 1);
        assert_eq!(r.bars[0].time_ms, 1_700_000_000_000);
        assert_eq!(r.bars[0].high, 2.0);
    }

    #[test]
    fn parses_datetimes_and_microseconds() {
        assert_eq!(parse_time("2024-01-01T00:01:00Z"), Some(1_704_067_260_000));
        assert_eq!(parse_time("2024-01-01 00:01:00"), Some(1_704_067_260_000));
        assert_eq!(
            parse_time("2024-01-01T01:01:00+01:00"),
            Some(1_704_067_260_000)
        );
        assert_eq!(parse_time("1704067260000000"), Some(1_704_067_260_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn bad_rows_name_line_and_field() {
        let h = "date,open,high,low,close,volume\n";
        let cases = [
            (format!("{h}2024-01-01,1,2,1,x,5\n"), 2, "field `close`"),
            (
                format!("{h}2024-01-01,1,2,1,1.5,5\n2024-01-02,1,2,1,NaN,5\n"),
                3,
                "`close`: NaN",
            ),
            (format!("{h}2024-01-01,1,0.5,1,1,5\n"), 2, "do not bracket"),
            (
                format!("{h}2024-01-02,1,2,1,1,5\n2024-01-01,1,2,1,1,5\n"),
                3,
                "backwards",
            ),
            (
                format!("{h}2024-01-01,1,2,1,1,5\n2024-01-01,1,2,1,1,5\n"),
                3,
                "duplicate",
            ),
            (format!("{h}2024-01-01,1,2\n"), 2, "expected at least 6"),
        ];
        for (text, line, needle) in cases {
            let (l, kind) = parse(&text).unwrap_err();
            assert_eq!(l, Some(line), "{text}");
            assert!(kind.to_string().contains(needle), "{kind} lacks {needle}");
        }
        let (_, kind) = parse("date,open,high,low,volume\n").unwrap_err();
        assert!(
            kind.to_string().contains("missing column `close`"),
            "{kind}"
        );
    }

    #[test]
    fn repairs_only_when_asked() {
        let text = "date,open,high,low,close,volume\n2024-01-02,1,2,1,1,5\n2024-01-01,1,2,1,1,5\n2024-01-01,9,9,9,9,9\n2024-01-03,1,0.5,1,1,5\n";
        let (r, log) =
            parse_csv(text.as_bytes(), "X", "sort,dedupe,clamp".parse().unwrap()).unwrap();
        assert_eq!(r.bars.len(), 3);
        assert_eq!(r.bars[0].open, 1.0, "dedupe keeps the first in file order");
        assert_eq!(
            (log.sorted, log.dropped_duplicates, log.clamped),
            (true, 1, 1)
        );
        assert_eq!(r.bars[2].high, 1.0);
    }

    #[test]
    fn recording_round_trips_and_rejects_garbage() {
        let rec = parse("date,open,high,low,close,volume\n2024-01-01,1,2,1,1.5,5\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.sbrec");
        write_recording(&p, &rec).unwrap();
        assert_eq!(read_recording(&p).unwrap(), rec);
        let bytes = std::fs::read(&p).unwrap();
        assert!(decode_recording(&bytes[..bytes.len() - 3]).is_err());
        assert!(decode_recording(b"hello").is_err());
    }
}
