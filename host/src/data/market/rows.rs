//! CSV files: the layouts recognised (Binance klines, OHLCV with a header), rows read one at a time and validated, bars in order.

use super::*;

/// Where each field lives in a row.
pub(super) struct Layout {
    pub(super) time: usize,
    pub(super) ohlcv: [usize; 5],
    pub(super) symbol: Option<usize>,
    pub(super) header: bool,
}

pub(super) const NAMES: [&str; 5] = ["open", "high", "low", "close", "volume"];

impl Layout {
    pub(super) fn detect(first: &csv::ByteRecord) -> Result<Layout, DataErrorKind> {
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
    pub(super) reader: csv::Reader<R>,
    pub(super) record: csv::ByteRecord,
    pub(super) layout: Option<Layout>,
    pub(super) default_symbol: String,
    pub(super) repair: Repair,
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
pub(super) fn check_order(
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
