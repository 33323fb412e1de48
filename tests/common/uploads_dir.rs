//! What a server keeps under `uploads/`: its blobs and its uploads in progress.

use std::path::{Path, PathBuf};

/// The blobs stored under `uploads/` (not the uploads in progress), with their sizes.
pub fn stored_blobs(uploads: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    for folder in std::fs::read_dir(uploads).expect("uploads/") {
        let folder = folder.expect("entry").path();
        if folder.file_name().is_some_and(|name| name == "tmp") {
            continue;
        }
        assert!(folder.is_dir(), "only blob folders in uploads/: {}", folder.display());
        for blob in std::fs::read_dir(&folder).expect("blob folder") {
            let blob = blob.expect("entry").path();
            let size = blob.metadata().expect("metadata").len();
            found.push((blob, size));
        }
    }
    found.sort();
    found
}

/// How many files `uploads/tmp/` holds (uploads in progress).
pub fn unfinished(uploads: &Path) -> usize {
    std::fs::read_dir(uploads.join("tmp")).map_or(0, |entries| entries.count())
}
