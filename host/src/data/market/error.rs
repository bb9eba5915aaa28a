//! What is wrong with data, named with the file, line and column, and the repairs a user may allow.

use super::*;

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
