//! Where the master keys come from, and the files of a rotation.
//!
//! - `KEEL_MASTER_KEY` (base64 of 32 bytes) is the current key when set; the keys in
//!   `KEEL_MASTER_KEY_PREVIOUS` (comma-separated) still open what they sealed. Keel never
//!   writes either.
//! - Otherwise the data dir's `vault.key` holds the current key (base64, mode 0600, created on
//!   first start; a file others may read is refused). During a rotation `vault.key.next` holds
//!   the new key beside it; at the end the old key is kept as `vault.key.retired-<key id>` and
//!   `vault.key.next` is renamed over `vault.key`. Every one of those files is in the keyring,
//!   so a value sealed under any of them opens whatever moment a rotation stopped at.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::{KeyId, Keyring, MasterKey, VaultError};

/// The variable holding the current master key.
pub const ENV_KEY: &str = "KEEL_MASTER_KEY";
/// The variable holding previous master keys (comma-separated), during a rotation.
pub const ENV_PREVIOUS: &str = "KEEL_MASTER_KEY_PREVIOUS";
/// The key file in the data dir.
pub const KEY_FILE: &str = "vault.key";
/// The new key of a rotation under way.
pub const NEXT_FILE: &str = "vault.key.next";
/// A key a finished rotation replaced: `vault.key.retired-<key id>`.
pub const RETIRED_PREFIX: &str = "vault.key.retired-";

/// Where a process gets its master keys.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// From `KEEL_MASTER_KEY` and `KEEL_MASTER_KEY_PREVIOUS`, parsed once.
    Env(Keyring),
    /// From the key files in this directory (the data dir).
    File(PathBuf),
}

impl KeySource {
    /// `KEEL_MASTER_KEY` (and `KEEL_MASTER_KEY_PREVIOUS`) when set, read through `var`; else the
    /// key files of `data_dir`. A malformed variable is an error naming it, never its value.
    pub fn from_env(var: impl Fn(&str) -> Option<String>, data_dir: &Path) -> Result<KeySource, VaultError> {
        let Some(current) = var(ENV_KEY).filter(|v| !v.trim().is_empty()) else {
            return Ok(KeySource::File(data_dir.to_path_buf()));
        };
        let current = zeroize::Zeroizing::new(current);
        let current = MasterKey::from_base64(&current, || VaultError::MalformedKey(ENV_KEY.into()))?;
        let mut previous = Vec::new();
        if let Some(list) = var(ENV_PREVIOUS) {
            let list = zeroize::Zeroizing::new(list);
            for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                previous.push(MasterKey::from_base64(part, || {
                    VaultError::MalformedKey(ENV_PREVIOUS.into())
                })?);
            }
        }
        Ok(KeySource::Env(Keyring::new(current, previous)))
    }

    /// The process's environment: [`KeySource::from_env`] over `std::env::var`.
    pub fn from_process_env(data_dir: &Path) -> Result<KeySource, VaultError> {
        KeySource::from_env(|name| std::env::var(name).ok(), data_dir)
    }

    /// The keyring: for key files, `vault.key` as the current key (created when `create` and
    /// there is none) and `vault.key.next` and the retired keys as previous ones.
    pub fn load(&self, create: bool) -> Result<Keyring, VaultError> {
        match self {
            KeySource::Env(ring) => Ok(ring.clone()),
            KeySource::File(dir) => load_files(dir, create),
        }
    }

    /// Starts (or, after an interruption, resumes) a rotation: the keyring re-wrapping must
    /// use. With key files, the new key is `vault.key.next`, written first (mode 0600) if a
    /// previous run did not; with `KEEL_MASTER_KEY`, the new key is that variable and the old
    /// ones come from `KEEL_MASTER_KEY_PREVIOUS`.
    pub fn begin_rotation(&self) -> Result<Rotation, VaultError> {
        match self {
            KeySource::Env(ring) => Ok(Rotation {
                keyring: ring.clone(),
                dir: None,
            }),
            KeySource::File(dir) => {
                let ring = load_files(dir, true)?;
                let next_path = dir.join(NEXT_FILE);
                let next = match read_key(&next_path)? {
                    Some(k) => k,
                    None => create_key(&next_path, MasterKey::generate())?,
                };
                let previous = ring.keys().cloned().collect();
                Ok(Rotation {
                    keyring: Keyring::new(next, previous),
                    dir: Some((dir.clone(), ring.current_id().clone())),
                })
            }
        }
    }
}

/// A rotation under way: re-wrap every value with [`Rotation::keyring`], then
/// [`Rotation::finish`].
#[derive(Debug)]
pub struct Rotation {
    /// The new key as the current one, every older key as previous.
    pub keyring: Keyring,
    /// The data dir and the id of the key being replaced (key files only).
    dir: Option<(PathBuf, KeyId)>,
}

impl Rotation {
    /// Whether the new key comes from a file this rotation made (or resumed).
    pub fn uses_files(&self) -> bool {
        self.dir.is_some()
    }

    /// Ends a rotation whose re-wrapping finished: with key files, keeps the old key as
    /// `vault.key.retired-<id>` and renames `vault.key.next` over `vault.key` (each step safe
    /// to repeat). With `KEEL_MASTER_KEY`, nothing: the operator drops the old key from
    /// `KEEL_MASTER_KEY_PREVIOUS`.
    pub fn finish(self) -> Result<(), VaultError> {
        let Some((dir, old_id)) = self.dir else {
            return Ok(());
        };
        let key_path = dir.join(KEY_FILE);
        if let Some(old) = read_key(&key_path)? {
            if old.id() == &old_id {
                let retired = dir.join(format!("{RETIRED_PREFIX}{old_id}"));
                if read_key(&retired)?.is_none() {
                    create_key(&retired, old)?;
                }
            }
        }
        let next = dir.join(NEXT_FILE);
        std::fs::rename(&next, &key_path).map_err(|e| io("cannot rename", &next, e))?;
        sync_dir(&dir)
    }
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> VaultError {
    VaultError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// Reads a key file, refusing one that others may read; `None` when absent.
fn read_key(path: &Path) -> Result<Option<MasterKey>, VaultError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("cannot read the master key file", path, e)),
    };
    check_mode(path)?;
    let shown = path.display().to_string();
    MasterKey::from_base64(&text, || VaultError::MalformedKeyFile(shown)).map(Some)
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| io("cannot read the mode of", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::LoosePermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

/// Writes a new key file (mode 0600) and makes it durable; never over an existing file. The
/// key is written whole to a temporary file first and then linked in place, so a process
/// starting at the same moment reads either no file or the whole key: `Ok(false)` when
/// another process made `path` first (its key is the one to use).
fn write_key(path: &Path, key: &MasterKey) -> Result<bool, VaultError> {
    let tmp = path.with_extension(format!("tmp-{}", rand::random::<u64>()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| io("cannot create the master key file", &tmp, e))?;
    let text = key.to_base64();
    let written = f
        .write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all());
    drop(f);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io("cannot write the master key file", path, e)),
    }
    match path.parent() {
        Some(dir) => sync_dir(dir).map(|()| true),
        None => Ok(true),
    }
}

/// The key file at `path`, made with `key` unless another process made it first.
fn create_key(path: &Path, key: MasterKey) -> Result<MasterKey, VaultError> {
    if write_key(path, &key)? {
        return Ok(key);
    }
    read_key(path)?.ok_or_else(|| {
        io(
            "the master key file vanished while being created",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| io("cannot open", dir, e))?;
        d.sync_all().map_err(|e| io("cannot sync", dir, e))?;
    }
    let _ = dir;
    Ok(())
}

fn load_files(dir: &Path, create: bool) -> Result<Keyring, VaultError> {
    let key_path = dir.join(KEY_FILE);
    let mut previous = Vec::new();
    if let Some(next) = read_key(&dir.join(NEXT_FILE))? {
        previous.push(next);
    }
    let mut retired: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(RETIRED_PREFIX))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("cannot list", dir, e)),
    };
    retired.sort();
    for p in retired {
        if let Some(k) = read_key(&p)? {
            previous.push(k);
        }
    }
    let current = match read_key(&key_path)? {
        Some(k) => k,
        // A rotation's files without the key they rotate: someone removed vault.key. Never
        // make a new key over that.
        None if !previous.is_empty() => {
            return Err(io(
                "the master key file is missing (a rotation's key files are beside it: restore it from a backup)",
                &key_path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        }
        None if create => create_key(&key_path, MasterKey::generate())?,
        None => return Err(VaultError::NoKey),
    };
    Ok(Keyring::new(current, previous))
}

/// The keyring of a running process, re-read from its source when a value names a key it
/// does not hold (a rotation run by `keel vault rotate-master` beside it). `Keys::default()`
/// has no key: every vault operation answers that the vault is not configured.
#[derive(Debug, Default)]
pub struct Keys {
    source: Option<KeySource>,
    ring: RwLock<Option<Arc<Keyring>>>,
}

impl Keys {
    /// Loads the keyring from `source`, creating the key file when `create` and there is none.
    pub fn open(source: KeySource, create: bool) -> Result<Keys, VaultError> {
        let ring = source.load(create)?;
        Ok(Keys {
            source: Some(source),
            ring: RwLock::new(Some(Arc::new(ring))),
        })
    }

    /// A fixed keyring (tests, tools).
    pub fn fixed(ring: Keyring) -> Keys {
        Keys {
            source: None,
            ring: RwLock::new(Some(Arc::new(ring))),
        }
    }

    /// The keyring, or [`VaultError::NoKey`].
    pub fn keyring(&self) -> Result<Arc<Keyring>, VaultError> {
        self.ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(VaultError::NoKey)
    }

    /// The keyring to seal with: for key files re-read first (a few small files; sealing is
    /// rare), so a rotation finished by `keel vault rotate-master` beside this process is
    /// followed by the next secret written.
    pub fn for_sealing(&self) -> Result<Arc<Keyring>, VaultError> {
        match &self.source {
            Some(source @ KeySource::File(_)) => {
                let fresh = Arc::new(source.load(false)?);
                *self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
                Ok(fresh)
            }
            _ => self.keyring(),
        }
    }

    /// The keyring, re-read from the source when it lacks `id` (never creating a key file).
    pub fn keyring_with(&self, id: &KeyId) -> Result<Arc<Keyring>, VaultError> {
        let ring = self.keyring()?;
        if ring.has(id) {
            return Ok(ring);
        }
        let Some(source) = &self.source else {
            return Ok(ring);
        };
        let fresh = Arc::new(source.load(false)?);
        *self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_made_once_with_mode_0600_and_loose_modes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = KeySource::File(dir.path().to_path_buf());
        assert!(matches!(src.load(false), Err(VaultError::NoKey)));
        let a = src.load(true).unwrap();
        let b = src.load(true).unwrap();
        assert_eq!(a.current_id(), b.current_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(KEY_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = src.load(true).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            assert!(!err.contains(std::fs::read_to_string(&path).unwrap().trim()), "{err}");
        }
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<KeyId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let src = KeySource::File(dir.path().to_path_buf());
                    s.spawn(move || src.load(true).unwrap().current_id().clone())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [KEY_FILE], "temporary files left behind");
    }

    #[test]
    fn variables_are_parsed_and_a_malformed_one_is_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let new = MasterKey::generate();
        let old = MasterKey::generate();
        let (n, o) = (new.to_base64().to_string(), old.to_base64().to_string());
        let src = KeySource::from_env(
            |v| match v {
                ENV_KEY => Some(n.clone()),
                ENV_PREVIOUS => Some(format!("{o}, ")),
                _ => None,
            },
            dir.path(),
        )
        .unwrap();
        let ring = src.load(false).unwrap();
        assert_eq!(ring.current_id(), new.id());
        assert!(ring.has(old.id()));
        let bad = "c2hvcnQ=".to_string();
        let err = KeySource::from_env(|v| (v == ENV_KEY).then(|| bad.clone()), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(ENV_KEY) && !err.contains(&bad), "{err}");
        let err = KeySource::from_env(
            |v| match v {
                ENV_KEY => Some(n.clone()),
                _ => Some("nope".into()),
            },
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(ENV_PREVIOUS), "{err}");
        // Unset (or empty): the key file.
        assert!(matches!(
            KeySource::from_env(|_| None, dir.path()).unwrap(),
            KeySource::File(_)
        ));
    }

    #[test]
    fn a_rotation_writes_the_next_key_first_keeps_both_readable_and_swaps_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let src = KeySource::File(dir.path().to_path_buf());
        let before = src.load(true).unwrap();
        let sealed = before.seal(b"v", b"id").unwrap();

        let rot = src.begin_rotation().unwrap();
        let next_id = rot.keyring.current_id().clone();
        assert!(dir.path().join(NEXT_FILE).exists());
        // Interrupted here: a server loads both keys, still sealing with the old one.
        let during = src.load(true).unwrap();
        assert_eq!(during.current_id(), before.current_id());
        assert!(during.has(&next_id));
        drop(rot);
        // A rerun resumes with the same new key.
        let rot = src.begin_rotation().unwrap();
        assert_eq!(rot.keyring.current_id(), &next_id);
        let rewrapped = rot.keyring.rewrap(&sealed).unwrap().unwrap();
        rot.finish().unwrap();

        let after = src.load(false).unwrap();
        assert_eq!(after.current_id(), &next_id);
        assert!(!dir.path().join(NEXT_FILE).exists());
        assert!(dir
            .path()
            .join(format!("{RETIRED_PREFIX}{}", before.current_id()))
            .exists());
        assert_eq!(&*after.open(&rewrapped, b"id").unwrap(), b"v");
        // The retired key still opens what a server sealed with it during the rotation.
        assert_eq!(&*after.open(&sealed, b"id").unwrap(), b"v");
    }

    #[test]
    fn a_reloading_holder_picks_up_a_rotated_key() {
        let dir = tempfile::tempdir().unwrap();
        let src = KeySource::File(dir.path().to_path_buf());
        let keys = Keys::open(src.clone(), true).unwrap();
        let rot = src.begin_rotation().unwrap();
        let new_id = rot.keyring.current_id().clone();
        let sealed = rot.keyring.seal(b"v", b"id").unwrap();
        rot.finish().unwrap();
        assert!(!keys.keyring().unwrap().has(&new_id));
        let ring = keys.keyring_with(&new_id).unwrap();
        assert_eq!(&*ring.open(&sealed, b"id").unwrap(), b"v");
        // Sealing follows the swapped key file.
        let src2 = KeySource::File(dir.path().to_path_buf());
        let keys = Keys::open(src2.clone(), false).unwrap();
        let rot = src2.begin_rotation().unwrap();
        let newer = rot.keyring.current_id().clone();
        rot.finish().unwrap();
        assert_eq!(keys.for_sealing().unwrap().current_id(), &newer);
        assert!(matches!(Keys::default().keyring(), Err(VaultError::NoKey)));
    }
}
