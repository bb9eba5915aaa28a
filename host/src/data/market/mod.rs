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

//!
//! Files: `rows.rs` CSV layouts and rows; `recording.rs` the binary
//! format; `error.rs` data errors and repairs; `time.rs` bar times; this
//! file the bar, the recording and loading files.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

mod error;
mod recording;
mod rows;
mod time;
pub use error::*;
pub use recording::*;
pub use rows::*;
pub use time::*;

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
