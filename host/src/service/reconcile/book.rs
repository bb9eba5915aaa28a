//! What someone else holds at a venue (`journals/venue-<name>.redb`), and
//! the names under which holdings and cash are compared and audited.

use super::*;

/// The key under which a quote asset's cash is compared and recorded.
pub fn cash_key(asset: &str) -> String {
    format!("{asset} (cash)")
}

/// Audit action: what someone else held when a venue was first compared.
pub const BASELINE: &str = "holdings-baseline";
/// Audit action: an operator took a difference in holdings as someone else's.
pub const ADOPTED_HOLDING: &str = "reconcile-adopt-holding";

const FOREIGN: TableDefinition<&str, f64> = TableDefinition::new("foreign");

/// What someone else holds at a venue, by symbol: `journals/venue-<name>.redb`.
pub struct VenueBook {
    db: std::sync::Arc<Database>,
    path: PathBuf,
}

impl VenueBook {
    /// Where venue `name`'s book lives under the journals directory.
    pub fn path(journals: &Path, name: &str) -> PathBuf {
        journals.join(format!("venue-{name}.redb"))
    }

    /// Open (or create) it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let db = crate::store::backup::create(path).map_err(|x| e(&x))?;
        let tx = db.begin_write().map_err(|x| e(&x))?;
        tx.open_table(FOREIGN).map_err(|x| e(&x))?;
        tx.commit().map_err(|x| e(&x))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {e}", self.path.display())
    }

    /// Foreign holdings recorded so far.
    pub fn foreign(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(FOREIGN).map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.insert(k.value().to_string(), v.value());
        }
        Ok(out)
    }

    /// Record what someone else holds of `symbol`.
    pub fn set_foreign(&self, symbol: &str, quantity: f64) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        tx.open_table(FOREIGN)
            .map_err(|e| self.err(e))?
            .insert(symbol, quantity)
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }
}
