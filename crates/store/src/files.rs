//! The file store: bytes named by their SHA-256.
//!
//! The first (and for now only) backend is a directory. Files are written to
//! a temporary name and renamed into place, so a crash never leaves half a
//! file under a real name; identical uploads share one file. Several replicas
//! share the directory through a common volume (see docs/DOCUMENTS.md).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::StoreError;

/// A content-addressed directory of files.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::Config(format!("file store: {context}: {e}"))
}

/// The SHA-256 of some bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl FileStore {
    /// Opens (creating if needed) a directory store.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(io("creating the folder"))?;
        Ok(Self { root })
    }

    fn path(&self, hash: &str) -> Result<PathBuf, StoreError> {
        if hash.len() != 64
            || !hash
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return Err(StoreError::Corrupt(format!("`{hash}` is not a file hash")));
        }
        Ok(self.root.join(&hash[0..2]).join(hash))
    }

    /// Stores bytes; returns their hash. Storing the same bytes again is a no-op.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let hash = sha256_hex(bytes);
        let path = self.path(&hash)?;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(hash);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io("creating a folder"))?;
        let temp = dir.join(format!(".{hash}.{}.tmp", uuid::Uuid::now_v7().simple()));
        tokio::fs::write(&temp, bytes)
            .await
            .map_err(io("writing a file"))?;
        tokio::fs::rename(&temp, &path)
            .await
            .map_err(io("moving a file into place"))?;
        Ok(hash)
    }

    /// Reads a file's bytes.
    pub async fn get(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(hash)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
            Err(e) => Err(io("reading a file")(e)),
        }
    }

    /// Every stored hash whose file is older than `min_age` (for the orphan
    /// sweep: a file just uploaded may not be recorded yet).
    pub fn list(&self, min_age: std::time::Duration) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&self.root).map_err(io("listing files"))? {
            let dir = dir.map_err(io("listing files"))?;
            if !dir.path().is_dir() {
                continue;
            }
            for file in std::fs::read_dir(dir.path()).map_err(io("listing files"))? {
                let file = file.map_err(io("listing files"))?;
                let name = file.file_name().to_string_lossy().to_string();
                let old_enough = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= min_age);
                if name.len() == 64 && !name.starts_with('.') && old_enough {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a file.
    pub async fn remove(&self, hash: &str) -> Result<(), StoreError> {
        let path = self.path(hash)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing a file")(e)),
        }
    }
}
