//! A sweep split into shards that run anywhere — the pods of a Kubernetes
//! Indexed Job, the tasks of a Slurm job array, a few shells — and merged
//! into exactly what one machine would have produced.
//!
//! Shard `i` of `n` runs the combinations `i, i + n, i + 2n, …` of the grid
//! (round-robin, so a grid whose slow corner is at one end still splits
//! evenly) and writes a shard file: every outcome with its index in the
//! grid, and the sweep's identity (plugin digest, data digests, fixed
//! parameters, run configuration, the whole list of combinations). `sweep
//! merge` refuses files that are not shards of one sweep, a shard missing
//! or given twice, or a combination missing; otherwise it puts the outcomes
//! back in grid order, which is all the single-process sweep has.
//!
//! Shard files are bincode (with serde), not JSON: they carry every run's
//! per-period returns, which the Probability of Backtest Overfitting needs.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::sweep::{Combination, Outcome};
use crate::engine::replay::DataDigest;

/// What a shard file says first, and its layout version.
const FORMAT: &str = "sandbar-sweep-shard";
const VERSION: u32 = 1;

/// Which part of a sweep this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub index: usize,
    /// Number of shards.
    pub of: usize,
}

/// `i/n`, or `n` with the index from the environment: Kubernetes Indexed
/// Jobs set `JOB_COMPLETION_INDEX`, Slurm job arrays `SLURM_ARRAY_TASK_ID`.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Shard> {
    let num = |t: &str, what: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| anyhow::anyhow!("--shard {text}: {what} `{t}` is not a whole number"))
    };
    let (index, of) = match text.split_once('/') {
        Some((i, n)) => (num(i, "the index")?, num(n, "the number of shards")?),
        None => {
            let of = num(text, "the number of shards")?;
            let (var, value) = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
                .iter()
                .find_map(|v| env(v).map(|x| (*v, x)))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--shard {text}: no index: give --shard I/{of}, or run where JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm) is set"
                    )
                })?;
            (
                value
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{var}=`{value}` is not a shard index"))?,
                of,
            )
        }
    };
    if of == 0 || index >= of {
        bail!("--shard {text}: the index must be below the number of shards (0 ≤ {index} < {of})");
    }
    Ok(Shard { index, of })
}

impl Shard {
    /// The grid indices this shard runs, of `total`.
    pub fn indices(&self, total: usize) -> Vec<usize> {
        (self.index..total).step_by(self.of).collect()
    }

    /// `path` with `{shard}` replaced by the index.
    pub fn path(&self, path: &Path) -> std::path::PathBuf {
        path.to_string_lossy()
            .replace("{shard}", &self.index.to_string())
            .into()
    }
}

/// What makes two shard files shards of the same sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// `name@version`.
    pub plugin: String,
    /// SHA-256 of the component.
    pub plugin_sha256: String,
    /// The data files: (name, SHA-256, bars).
    pub data: Vec<DataDigest>,
    /// Fixed `--param`s.
    pub fixed: Vec<String>,
    /// The run configuration and delivery, as text.
    pub config: String,
    /// Axis names, in order (the results file's first columns).
    pub axes: Vec<(String, Vec<String>)>,
    /// Every combination of the sweep, in grid order.
    pub combinations: Vec<Combination>,
}

/// One shard's results.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardFile {
    format: String,
    version: u32,
    /// Which shard.
    pub shard: (usize, usize),
    /// The sweep it belongs to.
    pub identity: Identity,
    /// (grid index, outcome).
    pub results: Vec<(usize, Outcome)>,
}

impl ShardFile {
    /// A shard's results.
    pub fn new(shard: Shard, identity: Identity, results: Vec<(usize, Outcome)>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            shard: (shard.index, shard.of),
            identity,
            results,
        }
    }

    /// Write to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .context("encoding the shard file")?;
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
    }

    /// Read from `path`; anything but a shard file is a clear error.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (f, _): (ShardFile, usize) = bincode::serde::decode_from_slice(
            &bytes,
            bincode::config::standard(),
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "{}: not a shard file (write one with `sandbar sweep … --shard I/N --out FILE`)",
                path.display()
            )
        })?;
        if f.format != FORMAT || f.version != VERSION {
            bail!(
                "{}: a {} file version {}, not a {FORMAT} version {VERSION}",
                path.display(),
                f.format,
                f.version
            );
        }
        Ok(f)
    }
}

/// Merge shard files: the sweep's identity and its outcomes in grid order.
pub fn merge(
    files: &[(std::path::PathBuf, ShardFile)],
) -> anyhow::Result<(Identity, Vec<Outcome>)> {
    let Some((first_path, first)) = files.first() else {
        bail!("no shard files given");
    };
    let of = first.shard.1;
    let identity = first.identity.clone();
    let mut seen = vec![None::<&Path>; of];
    for (path, f) in files {
        if f.shard.1 != of {
            bail!(
                "{} is shard {}/{} but {} is shard {}/{of}: not the same split",
                path.display(),
                f.shard.0,
                f.shard.1,
                first_path.display(),
                first.shard.0
            );
        }
        if f.identity != identity {
            let what = if f.identity.plugin_sha256 != identity.plugin_sha256 {
                "plugin"
            } else if f.identity.data != identity.data {
                "data"
            } else if f.identity.combinations != identity.combinations {
                "grid"
            } else {
                "configuration or parameters"
            };
            bail!(
                "{} is not a shard of the same sweep as {}: its {what} differs",
                path.display(),
                first_path.display()
            );
        }
        if let Some(other) = seen[f.shard.0].replace(path) {
            bail!(
                "shard {}/{of} given twice: {} and {}",
                f.shard.0,
                other.display(),
                path.display()
            );
        }
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        bail!("shard {missing}/{of} is missing: merge needs all {of}");
    }
    let total = identity.combinations.len();
    let mut out: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
    for (path, f) in files {
        for (i, o) in &f.results {
            let Some(slot) = out.get_mut(*i) else {
                bail!(
                    "{}: combination {i} is not in the grid of {total}",
                    path.display()
                );
            };
            if slot.is_some() {
                bail!("{}: combination {i} was run twice", path.display());
            }
            if o.params != identity.combinations[*i] {
                bail!(
                    "{}: combination {i} has other parameters than the grid's",
                    path.display()
                );
            }
            *slot = Some(o.clone());
        }
    }
    let outcomes = out
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| anyhow::anyhow!("combination {i} is in no shard file")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((identity, outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_index_comes_from_the_flag_or_the_scheduler() {
        assert_eq!(parse("2/5", env(&[])).unwrap(), Shard { index: 2, of: 5 });
        assert_eq!(
            parse("4", env(&[("JOB_COMPLETION_INDEX", "3")])).unwrap(),
            Shard { index: 3, of: 4 }
        );
        assert_eq!(
            parse("4", env(&[("SLURM_ARRAY_TASK_ID", "1")])).unwrap(),
            Shard { index: 1, of: 4 }
        );
        assert!(
            parse("4", env(&[]))
                .unwrap_err()
                .to_string()
                .contains("JOB_COMPLETION_INDEX")
        );
        assert!(
            parse("5/5", env(&[]))
                .unwrap_err()
                .to_string()
                .contains("0 ≤ 5 < 5")
        );
        assert!(parse("a/5", env(&[])).is_err());
    }

    #[test]
    fn shards_split_the_grid_round_robin_and_cover_it_once() {
        let mut all: Vec<usize> = (0..3)
            .flat_map(|i| Shard { index: i, of: 3 }.indices(10))
            .collect();
        assert_eq!(Shard { index: 1, of: 3 }.indices(10), vec![1, 4, 7]);
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(
            Shard { index: 2, of: 3 }.path(Path::new("/r/shard-{shard}.bin")),
            Path::new("/r/shard-2.bin")
        );
    }
}
