//! Replaying CSV files without holding them in memory.
//!
//! A replay needs its symbol table before the first bar (the strategy's
//! `init` gets it) and must refuse bad data before the strategy has seen any
//! of it, so the files are read twice: [`scan`] validates every row with the
//! same rules and the same errors as [`market::load`] (a row error first, in
//! file order; then the order errors; then duplicates across files), learns
//! the symbols, counts the bars and hashes the bytes, keeping nothing else;
//! then a [`StreamFeed`] reads them again and merges them by (time, symbol,
//! file) as the engine pulls. Memory no longer grows with the recording's
//! length.
//!
//! What needs a whole file stays on the loader's path: repairs (`sort`,
//! `dedupe`, `clamp`), binary recordings, and a file whose rows are not in
//! time order across symbols (one sorted by symbol, then time) — `scan`
//! answers `None` and the caller loads.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::data::feed::Feed;
use crate::data::market::{
    self, Bar, CsvRows, DataError, DataErrorKind, LoadOptions, RECORDING_MAGIC, SymbolId,
    format_time,
};

/// Reads through to a SHA-256.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// What the scan learned about one file.
#[derive(Debug, Clone)]
struct FilePlan {
    path: PathBuf,
    default_symbol: String,
    /// The file's symbols, in order of first appearance.
    symbols: Vec<String>,
    /// File symbol index → merged symbol id.
    remap: Vec<SymbolId>,
}

/// Validated files, ready to be streamed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The merged symbol table (file order, then first appearance).
    pub symbols: Vec<String>,
    /// Bars in all.
    pub bars: u64,
    /// Per file: (file name, SHA-256, bars).
    pub digests: Vec<(String, String, u64)>,
    files: Vec<FilePlan>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError {
        file: path.to_path_buf(),
        line: None,
        kind: DataErrorKind::Io(e.to_string()),
    }
}

fn open(path: &Path) -> Result<BufReader<File>, DataError> {
    Ok(BufReader::with_capacity(
        1 << 16,
        File::open(path).map_err(|e| io_err(path, e))?,
    ))
}

fn default_symbol(path: &Path, opts: &LoadOptions) -> String {
    opts.symbol.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "SYMBOL".into())
    })
}

/// Validate `paths` without keeping their bars. `Ok(None)`: they need the
/// whole-file loader (repairs, recordings, rows out of time order).
pub fn scan(paths: &[PathBuf], opts: &LoadOptions) -> Result<Option<Plan>, DataError> {
    let r = opts.repair;
    if r.sort || r.dedupe || r.clamp {
        return Ok(None);
    }
    let mut files = Vec::new();
    let mut digests = Vec::new();
    let mut total = 0u64;
    for path in paths {
        let mut magic = [0u8; 8];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(|e| io_err(path, e))?;
        if n == 8 && magic == RECORDING_MAGIC {
            return Ok(None);
        }
        let default = default_symbol(path, opts);
        let mut hashing = Hashing {
            inner: open(path)?,
            hash: Sha256::new(),
        };
        let Some((symbols, count)) =
            scan_file(&mut hashing, &default).map_err(|(line, kind)| DataError {
                file: path.clone(),
                line,
                kind,
            })?
        else {
            return Ok(None);
        };
        // The CSV reader stops at the end; hash anything after (nothing).
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| io_err(path, e))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        digests.push((name, crate::digest::hex(&hashing.hash.finalize()), count));
        total += count;
        files.push(FilePlan {
            path: path.clone(),
            default_symbol: default,
            symbols,
            remap: Vec::new(),
        });
    }
    let mut merged: Vec<String> = Vec::new();
    let mut index: HashMap<String, SymbolId> = HashMap::new();
    for f in &mut files {
        f.remap = f
            .symbols
            .iter()
            .map(|s| {
                let next = index.len() as SymbolId;
                *index.entry(s.clone()).or_insert_with(|| {
                    merged.push(s.clone());
                    next
                })
            })
            .collect();
    }
    if let [one] = digests.as_mut_slice() {
        one.2 = total;
    } else {
        for d in &mut digests {
            d.2 = 0;
        }
    }
    let plan = Plan {
        symbols: merged,
        bars: total,
        digests,
        files,
    };
    if plan.files.len() > 1 {
        // Duplicates across files, found as the merge meets them.
        let mut feed = plan.open()?;
        let mut out = Vec::with_capacity(4096);
        loop {
            out.clear();
            if feed.next_checked(&mut out, 4096)? == 0 {
                break;
            }
        }
    }
    Ok(Some(plan))
}

/// Validate one CSV: `Some((symbols, bars))`, or `None` if its rows are not
/// in time order across symbols. Errors as the loader reports them.
#[allow(clippy::type_complexity)]
fn scan_file<R: Read>(
    input: R,
    default: &str,
) -> Result<Option<(Vec<String>, u64)>, (Option<u64>, DataErrorKind)> {
    let mut rows = CsvRows::new(input, default, Default::default());
    let mut symbols: Vec<String> = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut last: Vec<(i64, u64)> = Vec::new();
    let mut order_error: Option<(Option<u64>, DataErrorKind)> = None;
    let mut in_time_order = true;
    let mut prev_time = i64::MIN;
    let mut count = 0u64;
    while let Some(row) = rows.next_row()? {
        count += 1;
        let s = match ids.get(&row.symbol) {
            Some(&s) => s,
            None => {
                ids.insert(row.symbol.clone(), symbols.len());
                symbols.push(row.symbol.clone());
                last.push((i64::MIN, 0));
                symbols.len() - 1
            }
        };
        let t = row.bar.time_ms;
        in_time_order &= t >= prev_time;
        prev_time = prev_time.max(t);
        let (prev, first_line) = last[s];
        if order_error.is_none() && prev != i64::MIN {
            if t < prev {
                order_error = Some((
                    Some(row.line),
                    DataErrorKind::Backwards {
                        symbol: symbols[s].clone(),
                        time: format_time(t),
                        previous: format_time(prev),
                    },
                ));
            } else if t == prev {
                order_error = Some((
                    Some(row.line),
                    DataErrorKind::Duplicate {
                        symbol: symbols[s].clone(),
                        time: format_time(t),
                        first_line,
                    },
                ));
            }
        }
        last[s] = (t, row.line);
    }
    if count == 0 {
        return Err((None, DataErrorKind::Empty));
    }
    if let Some(e) = order_error {
        return Err(e);
    }
    Ok(in_time_order.then_some((symbols, count)))
}

/// One file being read: bars of the same time are gathered and ordered by
/// symbol, as the loader orders them.
struct Cursor {
    rows: CsvRows<BufReader<File>>,
    local: HashMap<String, SymbolId>,
    group: VecDeque<Bar>,
    ahead: Option<Bar>,
    path: PathBuf,
    done: bool,
}

impl Cursor {
    fn front(&mut self) -> Result<Option<&Bar>, DataError> {
        if self.group.is_empty() && !self.done {
            self.refill()?;
        }
        Ok(self.group.front())
    }

    fn refill(&mut self) -> Result<(), DataError> {
        let mut batch: Vec<Bar> = self.ahead.take().into_iter().collect();
        loop {
            let row = self.rows.next_row().map_err(|(line, kind)| DataError {
                file: self.path.clone(),
                line,
                kind,
            })?;
            let Some(row) = row else {
                self.done = true;
                break;
            };
            let symbol = *self.local.get(&row.symbol).ok_or_else(|| {
                io_err(
                    &self.path,
                    format!("symbol {} appeared since it was scanned", row.symbol),
                )
            })?;
            let bar = Bar { symbol, ..row.bar };
            match batch.first() {
                Some(b) if b.time_ms != bar.time_ms => {
                    self.ahead = Some(bar);
                    break;
                }
                _ => batch.push(bar),
            }
        }
        batch.sort_by_key(|b| b.symbol);
        self.group.extend(batch);
        Ok(())
    }
}

impl Plan {
    /// A feed over the files, from their first bars.
    pub fn open(&self) -> Result<StreamFeed, DataError> {
        let mut cursors = Vec::new();
        for f in &self.files {
            let local = f
                .symbols
                .iter()
                .cloned()
                .zip(f.remap.iter().copied())
                .collect();
            cursors.push(Cursor {
                rows: CsvRows::new(open(&f.path)?, &f.default_symbol, Default::default()),
                local,
                group: VecDeque::new(),
                ahead: None,
                path: f.path.clone(),
                done: false,
            });
        }
        Ok(StreamFeed {
            cursors,
            symbols: self.symbols.clone(),
            total: self.bars,
            last: None,
            error: None,
        })
    }
}

/// Bars of several files, merged in (time, symbol, file) order as they are read.
pub struct StreamFeed {
    cursors: Vec<Cursor>,
    symbols: Vec<String>,
    total: u64,
    /// The last bar handed out and its file.
    last: Option<(Bar, usize)>,
    error: Option<DataError>,
}

impl StreamFeed {
    /// Like [`Feed::next_batch`], with the data errors (the scan uses it).
    fn next_checked(&mut self, out: &mut Vec<Bar>, max: usize) -> Result<usize, DataError> {
        let mut n = 0;
        while n < max {
            let mut best: Option<(i64, SymbolId, usize)> = None;
            for (k, c) in self.cursors.iter_mut().enumerate() {
                if let Some(b) = c.front()? {
                    let key = (b.time_ms, b.symbol, k);
                    if best.is_none_or(|x| key < x) {
                        best = Some(key);
                    }
                }
            }
            let Some((_, _, k)) = best else { break };
            let bar = self.cursors[k].group.pop_front().expect("front");
            if let Some((prev, from)) = self.last
                && prev.time_ms == bar.time_ms
                && prev.symbol == bar.symbol
            {
                return Err(DataError {
                    file: self.cursors[k].path.clone(),
                    line: None,
                    kind: DataErrorKind::DuplicateAcross {
                        symbol: self.symbols[bar.symbol as usize].clone(),
                        time: format_time(bar.time_ms),
                        first_file: self.cursors[from].path.display().to_string(),
                    },
                });
            }
            self.last = Some((bar, k));
            out.push(bar);
            n += 1;
        }
        Ok(n)
    }

    /// A data error met while streaming (the files changed since the scan).
    pub fn error(&self) -> Option<&DataError> {
        self.error.as_ref()
    }
}

impl Feed for StreamFeed {
    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn next_batch(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if self.error.is_some() {
            return 0;
        }
        match self.next_checked(out, max) {
            Ok(n) => n,
            Err(e) => {
                self.error = Some(e);
                0
            }
        }
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.total)
    }
}

/// The data of a replay: streamed from CSV files when they allow it, else
/// loaded whole.
pub enum Data {
    /// Loaded (repairs, recordings, rows out of time order, or given).
    Loaded(market::Recording),
    /// Validated and streamed.
    Streamed(Plan),
}

impl Data {
    /// Scan `paths` and stream them, or load them when they need it.
    pub fn open(
        paths: &[PathBuf],
        opts: &LoadOptions,
    ) -> Result<(Data, market::RepairLog), DataError> {
        if let Some(plan) = scan(paths, opts)? {
            return Ok((Data::Streamed(plan), market::RepairLog::default()));
        }
        let (rec, log) = market::load(paths, opts)?;
        Ok((Data::Loaded(rec), log))
    }

    /// The symbol table.
    pub fn symbols(&self) -> &[String] {
        match self {
            Data::Loaded(r) => &r.symbols,
            Data::Streamed(p) => &p.symbols,
        }
    }

    /// Bars in all.
    pub fn bars(&self) -> u64 {
        match self {
            Data::Loaded(r) => r.bars.len() as u64,
            Data::Streamed(p) => p.bars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A CSV with a symbol column from generated rows; `bad` spoils a field.
    fn csv(rows: &[(u8, u8, u8, bool)]) -> String {
        let mut t = String::from("date,symbol,open,high,low,close,volume\n");
        for &(sym, minute, px, bad) in rows {
            let time = 1_704_067_200_000i64 + i64::from(minute) * 60_000;
            let p = 100.0 + f64::from(px);
            let close = if bad { "x".to_string() } else { format!("{p}") };
            t.push_str(&format!(
                "{time},{},{p},{},{},{close},1000\n",
                ["A", "B", "C"][sym as usize % 3],
                p + 1.0,
                p - 1.0
            ));
        }
        t
    }

    fn row() -> impl Strategy<Value = (u8, u8, u8, bool)> {
        (0u8..3, 0u8..12, 0u8..20, proptest::bool::weighted(0.02))
    }

    proptest! {
        /// Streaming reads what the loader reads, or fails as it fails: the
        /// same bars in the same order with the same symbol table, or the
        /// same error message naming the same file and line.
        #[test]
        fn streaming_reads_exactly_what_loading_reads(
            files in proptest::collection::vec(
                prop_oneof![
                    // Time-ordered files (the streamable kind)…
                    proptest::collection::vec(row(), 1..20).prop_map(|mut r| {
                        r.sort_by_key(|x| x.1);
                        r
                    }),
                    // …and anything.
                    proptest::collection::vec(row(), 0..20),
                ],
                1..4,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let paths: Vec<PathBuf> = files
                .iter()
                .enumerate()
                .map(|(i, rows)| {
                    let p = dir.path().join(format!("f{i}.csv"));
                    std::fs::write(&p, csv(rows)).unwrap();
                    p
                })
                .collect();
            let opts = LoadOptions::default();
            let loaded = market::load(&paths, &opts);
            match scan(&paths, &opts) {
                Err(e) => {
                    let l = loaded.expect_err("the loader accepted what the scan refused");
                    prop_assert_eq!(e.to_string(), l.to_string());
                }
                Ok(None) => {}
                Ok(Some(plan)) => {
                    let (rec, _) = loaded.expect("the loader refused what the scan accepted");
                    prop_assert_eq!(&plan.symbols, &rec.symbols);
                    prop_assert_eq!(plan.bars, rec.bars.len() as u64);
                    let mut feed = plan.open().unwrap();
                    let mut bars = Vec::new();
                    while feed.next_batch(&mut bars, 7) > 0 {}
                    prop_assert!(feed.error().is_none());
                    prop_assert_eq!(bars, rec.bars);
                }
            }
        }
    }

    #[test]
    fn bars_of_one_time_follow_the_symbol_table_across_files() {
        // A is symbol 0 (first seen in f0); at minute 1 f1's A comes before f0's B.
        let dir = tempfile::tempdir().unwrap();
        let f0 = dir.path().join("f0.csv");
        let f1 = dir.path().join("f1.csv");
        std::fs::write(&f0, csv(&[(0, 0, 1, false), (1, 1, 2, false)])).unwrap();
        std::fs::write(&f1, csv(&[(0, 1, 3, false)])).unwrap();
        let paths = [f0, f1];
        let plan = scan(&paths, &LoadOptions::default()).unwrap().unwrap();
        let mut bars = Vec::new();
        while plan.open().unwrap().next_batch(&mut bars, 10) > 0 && bars.len() < 3 {}
        let (rec, _) = market::load(&paths, &LoadOptions::default()).unwrap();
        assert_eq!(bars, rec.bars);
        assert_eq!((bars[1].symbol, bars[2].symbol), (0, 1));
    }

    #[test]
    fn a_file_sorted_by_symbol_is_loaded_not_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            csv(&[(0, 1, 1, false), (0, 2, 1, false), (1, 1, 1, false)]),
        )
        .unwrap();
        assert!(
            scan(std::slice::from_ref(&p), &LoadOptions::default())
                .unwrap()
                .is_none()
        );
        let (data, _) = Data::open(&[p], &LoadOptions::default()).unwrap();
        assert!(matches!(data, Data::Loaded(_)));
        assert_eq!(data.bars(), 3);
    }
}
