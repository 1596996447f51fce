//! [`ResultStore`] on the local file system: `<dir>/results/<job id>.json`, written to a
//! temporary file and renamed, so a reader never sees half a document. Links carry the
//! document itself; the local server serves it from `/jobs/{id}/result`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use accepted_core::ids::JobId;
use accepted_core::job::ResultRef;
use accepted_core::ports::{result_key, result_ref, ResultLink, ResultStore, ResultStoreError};

use crate::data_dir::{private_dir, private_file};

#[derive(Debug, Clone)]
pub struct FileResultStore {
    dir: PathBuf,
}

impl FileResultStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

fn unavailable(err: impl std::fmt::Display) -> ResultStoreError {
    ResultStoreError::Unavailable(err.to_string())
}

#[async_trait]
impl ResultStore for FileResultStore {
    async fn put(&self, job: &JobId, document: &[u8]) -> Result<ResultRef, ResultStoreError> {
        let key = result_key(job);
        let reference = result_ref(key.clone(), document);
        let (path, document) = (self.dir.join(&key), document.to_vec());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                private_dir(parent)?;
            }
            // Written whole under another name, then renamed: a reader sees all or nothing.
            let partial = path.with_extension("json.partial");
            let mut file = private_file(&partial, false)?;
            file.set_len(0)?;
            file.write_all(&document)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        Ok(reference)
    }

    async fn link(
        &self,
        result: &ResultRef,
        _ttl: Duration,
    ) -> Result<ResultLink, ResultStoreError> {
        let path = self.dir.join(&result.key);
        let body = tokio::fs::read(&path)
            .await
            .map_err(|e| ResultStoreError::Missing(format!("{}: {e}", result.key)))?;
        if result_ref(result.key.clone(), &body) != *result {
            return Err(ResultStoreError::Missing(format!(
                "{} was altered",
                result.key
            )));
        }
        Ok(ResultLink::Body(body))
    }
}
