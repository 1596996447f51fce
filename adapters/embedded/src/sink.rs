//! The local server's event sink: each lifecycle event as one JSON line appended to a file,
//! flushed to disk before [`EventPublisher::publish`] returns, so tests and developers can
//! read (or `tail -f`) what subscribers on AWS would receive.
//!
//! Every line is whole. Appends are serialized, and one that fails part-way (a full disk)
//! is cut back off, so the next event never lands glued to half of this one; the outbox
//! still holds what failed and publishes it again. A line torn by a crash mid-write is cut
//! off when the sink is opened.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use accepted_core::events::CloudEvent;
use accepted_core::ports::{EventPublisher, PublishError};

use crate::data_dir::private_file;

#[derive(Debug, Clone)]
pub struct JsonLinesSink {
    path: PathBuf,
    /// One append at a time: two writers' lines must not interleave.
    writing: Arc<Mutex<()>>,
}

impl JsonLinesSink {
    /// The sink on `path` (created owner-only), after cutting off a torn last line.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let mut file = private_file(&path, false)?;
        let whole = whole_lines_len(&mut file)?;
        if whole < file.metadata()?.len() {
            file.set_len(whole)?;
            file.sync_data()?;
        }
        Ok(Self {
            path,
            writing: Arc::new(Mutex::new(())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The length of the file up to and including its last newline.
fn whole_lines_len(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// A file lines are appended to, and cut back to a length.
trait AppendTarget: Write {
    fn len(&self) -> io::Result<u64>;
    fn cut_to(&mut self, len: u64) -> io::Result<()>;
    fn sync(&mut self) -> io::Result<()>;
}

impl AppendTarget for File {
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn cut_to(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Appends `lines` whole and durably, or leaves the target as it was.
fn append_whole(target: &mut impl AppendTarget, lines: &[u8]) -> io::Result<()> {
    let before = target.len()?;
    let written = target.write_all(lines).and_then(|()| target.sync());
    if let Err(e) = written {
        // The cut is best effort: if it fails too, the next open cuts the torn line.
        let _ = target.cut_to(before);
        return Err(e);
    }
    Ok(())
}

#[async_trait]
impl EventPublisher for JsonLinesSink {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        let mut lines = Vec::new();
        for event in events {
            serde_json::to_writer(&mut lines, event).map_err(|e| PublishError(e.to_string()))?;
            lines.push(b'\n');
        }
        let (path, writing) = (self.path.clone(), Arc::clone(&self.writing));
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let _one_at_a_time = writing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            append_whole(&mut private_file(&path, true)?, &lines)
        })
        .await
        .map_err(|e| PublishError(e.to_string()))?
        .map_err(|e| PublishError(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk with room for `room` more bytes.
    struct NearlyFull {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for NearlyFull {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.room);
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl AppendTarget for NearlyFull {
        fn len(&self) -> io::Result<u64> {
            Ok(self.data.len() as u64)
        }
        fn cut_to(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_append_that_fails_part_way_leaves_no_partial_line() {
        let mut disk = NearlyFull {
            data: b"{\"a\":1}\n".to_vec(),
            room: 5,
        };
        let err = append_whole(&mut disk, b"{\"b\":2}\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(disk.data, b"{\"a\":1}\n");
        disk.room = 100;
        append_whole(&mut disk, b"{\"b\":2}\n").unwrap();
        assert_eq!(disk.data, b"{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn opening_cuts_a_line_torn_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        JsonLinesSink::open(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
        std::fs::write(&path, b"no newline at all").unwrap();
        JsonLinesSink::open(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn a_file_of_whole_lines_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let lines = "{\"n\":1}\n".repeat(20_000); // longer than one read
        std::fs::write(&path, &lines).unwrap();
        JsonLinesSink::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), lines);
    }
}
