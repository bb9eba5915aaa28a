//! Backups of a data directory — the registry and every database under
//! `journals/` — taken while the service runs, each copy verified by
//! opening it, and a restore that never overwrites anything.
//!
//! Why a copy made under a held write transaction is consistent: redb
//! commits atomically and lets one writer at a time. The backup first
//! commits an empty transaction with [`Durability::Immediate`] (every
//! earlier commit becomes durable), then opens a write transaction it never
//! commits and copies the file while it holds it: no commit can happen
//! during the copy, so the file copied is exactly the database's last
//! commit. The cost is that a writer waits for the copy of its own file —
//! a deployment's journal commit waits while its journal is copied (the
//! service's journals are copied one at a time, so each deployment waits
//! only for its own).
//!
//! A database this process has open is copied through its handle: every
//! database the host opens for writing is opened through [`create`], which
//! keeps a weak handle by path. A file nobody here has open is opened by the
//! backup itself, which also proves no other process writes it (redb
//! refuses a second writer).
//!
//! Each copy is then opened (redb repairs what a copy of an open database
//! needs: its "closed cleanly" mark) and its integrity checked, and its
//! SHA-256 goes into `backup.json`; `restore` checks them again before it
//! copies anything into place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use redb::{Database, DatabaseError, Durability};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest in a backup directory.
pub const MANIFEST: &str = "backup.json";

/// A database this process has open for writing: its canonical path and a
/// weak handle (the backup never keeps a database open).
type Opened = (PathBuf, Weak<Database>);

/// Databases this process has open for writing.
static OPEN: LazyLock<Mutex<Vec<Opened>>> = LazyLock::new(Mutex::default);

/// Open (or create) a database for writing, as `Database::create` does,
/// and let a backup in this process copy it while it is open.
pub fn create(path: &Path) -> Result<Arc<Database>, DatabaseError> {
    let db = Arc::new(Database::create(path)?);
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut open = OPEN.lock().expect("open databases lock");
    open.retain(|(_, w)| w.strong_count() > 0);
    open.push((key, Arc::downgrade(&db)));
    Ok(db)
}

fn held(path: &Path) -> Option<Arc<Database>> {
    let key = std::fs::canonicalize(path).ok()?;
    let open = OPEN.lock().expect("open databases lock");
    open.iter()
        .rev()
        .filter(|(p, _)| *p == key)
        .find_map(|(_, w)| w.upgrade())
}

/// Why a backup or a restore failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading, writing or listing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// redb refused a database (in use by another process, or damaged).
    #[error("{path}: {message}")]
    Database {
        /// File.
        path: PathBuf,
        /// redb's message.
        message: String,
    },
    /// The backup or the destination is not what it must be.
    #[error("{0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn db_err(path: &Path, e: impl std::fmt::Display) -> BackupError {
    BackupError::Database {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copied {
    /// Path inside the backup (`registry.redb`, `journals/<name>.redb`).
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the verified copy, hex.
    pub sha256: String,
}

/// `backup.json`: what a backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// When it was taken (UTC, RFC 3339).
    pub taken_at: String,
    /// Every file, verified.
    pub files: Vec<Copied>,
}

/// The databases of a data directory: its registry, and every `.redb`
/// file in its journals directory (journals, accounts, alerts, venue books).
fn databases(registry: &Path, journals: &Path) -> Result<Vec<(PathBuf, String)>, BackupError> {
    let mut out = Vec::new();
    if registry.exists() {
        out.push((registry.to_path_buf(), "registry.redb".to_string()));
    }
    if journals.is_dir() {
        let mut names = Vec::new();
        for e in std::fs::read_dir(journals).map_err(io(journals))? {
            let e = e.map_err(io(journals))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".redb") && e.path().is_file() {
                names.push(name);
            }
        }
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|n| (journals.join(&n), format!("journals/{n}"))),
        );
    }
    Ok(out)
}

/// Copy `src` to `dst` as its last commit (see the module's docs).
fn copy_consistent(src: &Path, dst: &Path) -> Result<(), BackupError> {
    let db = match held(src) {
        Some(db) => db,
        None => Arc::new(Database::open(src).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => BackupError::Refused(format!(
                "{} is open in another process: back up through the service that runs it \
                 (`sandbar backup --server …`)",
                src.display()
            )),
            e => db_err(src, e),
        })?),
    };
    let mut flush = db.begin_write().map_err(|e| db_err(src, e))?;
    flush
        .set_durability(Durability::Immediate)
        .map_err(|e| db_err(src, e))?;
    flush.commit().map_err(|e| db_err(src, e))?;
    let hold = db.begin_write().map_err(|e| db_err(src, e))?;
    let copied = std::fs::copy(src, dst).map_err(io(dst));
    drop(hold);
    copied?;
    Ok(())
}

/// Open a copy (redb marks it closed cleanly), check its integrity, and
/// hash it.
fn seal(path: &Path) -> Result<(u64, String), BackupError> {
    {
        let mut db = Database::open(path).map_err(|e| db_err(path, e))?;
        if !db.check_integrity().map_err(|e| db_err(path, e))? {
            // Repaired on opening: a copy must be whole as copied.
            return Err(BackupError::Refused(format!(
                "{}: the copy needed a repair; the backup is not kept",
                path.display()
            )));
        }
    }
    hash(path)
}

fn hash(path: &Path) -> Result<(u64, String), BackupError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok((
        bytes.len() as u64,
        crate::digest::hex(&Sha256::digest(&bytes)),
    ))
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// Back up the registry at `registry` and the databases in `journals` into
/// `dest`, a directory that must not exist yet. It is built as
/// `<dest>.partial` and renamed once every copy is verified, so a backup
/// that failed half way is never taken for one.
pub fn backup(registry: &Path, journals: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    if dest.exists() {
        return Err(BackupError::Refused(format!(
            "{} exists: a backup never overwrites anything",
            dest.display()
        )));
    }
    let files = databases(registry, journals)?;
    if files.is_empty() {
        return Err(BackupError::Refused(format!(
            "nothing to back up: no {} and no databases in {}",
            registry.display(),
            journals.display()
        )));
    }
    let partial = dest.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(partial.join("journals")).map_err(io(&partial))?;
    let mut copied = Vec::new();
    for (src, file) in files {
        let dst = partial.join(&file);
        copy_consistent(&src, &dst)?;
        let (bytes, sha256) = seal(&dst)?;
        sync_file(&dst)?;
        copied.push(Copied {
            file,
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        taken_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files: copied,
    };
    let path = partial.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    std::fs::write(&path, text).map_err(io(&path))?;
    sync_file(&path)?;
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    Ok(manifest)
}

/// Check a backup: its manifest, and every file's size and SHA-256.
pub fn verify(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        BackupError::Refused(format!(
            "{}: not a Sandbar backup manifest: {e}",
            path.display()
        ))
    })?;
    for c in &manifest.files {
        let safe = c.file == "registry.redb"
            || c.file
                .strip_prefix("journals/")
                .is_some_and(|n| n.ends_with(".redb") && !n.contains(['/', '\\']) && n != ".redb");
        if !safe {
            return Err(BackupError::Refused(format!(
                "{}: names a file outside the data directory's layout: {:?}",
                path.display(),
                c.file
            )));
        }
        let file = from.join(&c.file);
        let (bytes, sha256) = hash(&file)?;
        if (bytes, &sha256) != (c.bytes, &c.sha256) {
            return Err(BackupError::Refused(format!(
                "{}: {bytes} bytes with SHA-256 {sha256}, but the manifest says {} bytes with {}: \
                 the backup is damaged",
                file.display(),
                c.bytes,
                c.sha256
            )));
        }
    }
    Ok(manifest)
}

/// Restore the backup in `from` into the data directory `data_dir` (its
/// `registry.redb` and `journals/`), which must hold no database yet:
/// checked first, copied, and every database opened to prove it.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let manifest = verify(from)?;
    let journals = data_dir.join("journals");
    let present = databases(&data_dir.join("registry.redb"), &journals)?;
    if let Some((p, _)) = present.first() {
        return Err(BackupError::Refused(format!(
            "{} exists: a restore never overwrites a database (restore into an empty directory)",
            p.display()
        )));
    }
    std::fs::create_dir_all(&journals).map_err(io(&journals))?;
    for c in &manifest.files {
        let dst = data_dir.join(&c.file);
        let tmp = dst.with_extension("restoring");
        std::fs::copy(from.join(&c.file), &tmp).map_err(io(&tmp))?;
        sync_file(&tmp)?;
        std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        Database::open(&dst).map_err(|e| db_err(&dst, e))?;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn put(db: &Database, k: u64) {
        let w = db.begin_write().unwrap();
        w.open_table(T).unwrap().insert(k, k).unwrap();
        w.commit().unwrap();
    }

    fn count(path: &Path) -> u64 {
        let db = Database::open(path).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        redb::ReadableTableMetadata::len(&t).unwrap()
    }

    #[test]
    fn a_database_open_here_is_copied_as_its_last_commit_and_restored_into_an_empty_dir() {
        let dir = tempfile::tempdir().unwrap();
        let journals = dir.path().join("journals");
        std::fs::create_dir_all(&journals).unwrap();
        let registry = dir.path().join("registry.redb");
        let reg = create(&registry).unwrap();
        put(&reg, 1);
        let j = create(&journals.join("d.redb")).unwrap();
        for k in 0..100 {
            put(&j, k);
        }
        // Left non-durable: the backup makes it durable before copying.
        let mut w = j.begin_write().unwrap();
        w.set_durability(Durability::None).unwrap();
        w.open_table(T).unwrap().insert(100, 100).unwrap();
        w.commit().unwrap();
        let dest = dir.path().join("backups/one");
        let m = backup(&registry, &journals, &dest).unwrap();
        assert_eq!(
            m.files.iter().map(|c| c.file.as_str()).collect::<Vec<_>>(),
            ["registry.redb", "journals/d.redb"]
        );
        // Still open and writable here.
        put(&j, 101);
        let again = backup(&registry, &journals, &dest).unwrap_err().to_string();
        assert!(again.contains("never overwrites"), "{again}");

        let target = dir.path().join("restored");
        restore(&dest, &target).unwrap();
        assert_eq!(count(&target.join("journals/d.redb")), 101);
        assert_eq!(count(&target.join("registry.redb")), 1);
        let twice = restore(&dest, &target).unwrap_err().to_string();
        assert!(twice.contains("never overwrites a database"), "{twice}");
    }

    #[test]
    fn a_damaged_backup_is_refused_before_anything_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let journals = dir.path().join("journals");
        std::fs::create_dir_all(&journals).unwrap();
        let registry = dir.path().join("registry.redb");
        put(&create(&registry).unwrap(), 7);
        let dest = dir.path().join("b");
        backup(&registry, &journals, &dest).unwrap();
        let file = dest.join("registry.redb");
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        let target = dir.path().join("restored");
        let e = restore(&dest, &target).unwrap_err().to_string();
        assert!(e.contains("the backup is damaged"), "{e}");
        assert!(!target.join("registry.redb").exists(), "nothing restored");
        // A manifest naming a path outside the layout is refused too.
        let m = dest.join(MANIFEST);
        let text = std::fs::read_to_string(&m)
            .unwrap()
            .replace("\"registry.redb\"", "\"../../etc/passwd\"");
        std::fs::write(&m, text).unwrap();
        let e = verify(&dest).unwrap_err().to_string();
        assert!(e.contains("outside the data directory"), "{e}");
    }
}
