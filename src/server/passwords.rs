//! Argon2id password hashing on a small, fixed pool of threads.
//!
//! Each hash or check uses 19 MiB (the argon2 crate's defaults: m=19 MiB, t=2, p=1). Run on
//! ever-new blocking threads, the allocator kept one such buffer per thread: the chat benchmark
//! measured 1.86 GB of server RSS after 200 logins. A fixed pool bounds both the memory and the
//! CPU that hashing may take, which also blunts floods of login attempts: they queue here.
//! Each pool thread also keeps its own Argon2 memory while hashes follow one another, instead of
//! allocating 19 MiB per hash: glibc kept those freed buffers too (the voice benchmark's server,
//! 50 logins and no chat, measured 223 MiB RSS; 52 MiB with the memory kept here, two threads).
//! When no hash waits, a thread gives its memory back: it is reserved above glibc's mmap
//! threshold so that freeing it really returns it (an idle server held 19 MiB, the memory of the
//! hash of the default password made at start, until this).

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The least room reserved for a thread's Argon2 memory: above glibc's largest mmap threshold
/// (32 MiB on 64-bit), so that it is always mapped on its own and goes back to the system when
/// freed, instead of staying in the allocator's heap. Only the pages used count as memory.
const MEMORY_RESERVE: usize = 33 << 20;

thread_local! {
    /// This hashing thread's Argon2 memory, kept while hashes follow one another.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's kept memory.
fn argon2_into(argon2: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    MEMORY.with_borrow_mut(|memory| {
        let blocks = params.block_count();
        if memory.len() < blocks {
            let reserve = blocks.max(MEMORY_RESERVE / std::mem::size_of::<Block>());
            memory.reserve_exact(reserve.saturating_sub(memory.len()));
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]).is_ok()
    })
}

/// Gives this thread's Argon2 memory back to the system (when no hash waits).
fn release_memory() {
    MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
}

/// An Argon2id PHC string (default parameters) for `password` with `salt`.
fn hash_phc(password: &str, salt: &SaltString) -> Option<String> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.as_salt().decode_b64(&mut salt_bytes).ok()?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    if !argon2_into(&argon2, &params, password.as_bytes(), raw_salt, &mut out) {
        return None;
    }
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(phc.to_string())
}

/// Whether `password` matches the PHC string `hash` (any Argon2 variant and parameters in it).
fn verify_phc(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    // Output's equality is constant-time.
    argon2_into(&argon2, &params, password.as_bytes(), raw_salt, &mut out)
        && Output::new(&out).is_ok_and(|got| got == expected)
}

/// The pool stopped or a hash could not be made; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub struct HashingUnavailable;

/// Handle to the hashing threads; they stop when it is dropped.
#[derive(Debug)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
}

impl Passwords {
    /// Starts `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Passwords {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || loop {
                // A lock held elsewhere is another thread waiting in `recv`: nothing is queued.
                let waiting = match queue.try_lock() {
                    Ok(queue) => queue.try_recv(),
                    Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner().try_recv(),
                    Err(std::sync::TryLockError::WouldBlock) => Err(mpsc::TryRecvError::Empty),
                };
                let next = match waiting {
                    Ok(job) => Ok(job),
                    Err(mpsc::TryRecvError::Disconnected) => break,
                    Err(mpsc::TryRecvError::Empty) => {
                        // Idle: the 19 MiB go back to the system until the next hash.
                        release_memory();
                        queue.lock().unwrap_or_else(|p| p.into_inner()).recv()
                    }
                };
                match next {
                    Ok(job) => job(),
                    Err(_) => break,
                }
            });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Passwords { jobs }
    }

    /// One thread per core, at most four.
    pub(crate) fn for_this_machine() -> Passwords {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords::new(cores.min(4))
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashingUnavailable> {
        let (reply, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.jobs.send(job).map_err(|_| HashingUnavailable)?;
        outcome.await.map_err(|_| HashingUnavailable)
    }

    /// An Argon2id PHC string for `password` with a random salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String, HashingUnavailable> {
        let salt = SaltString::encode_b64(&crate::random::random_bytes::<16>()).map_err(|_| HashingUnavailable)?;
        self.run(move || hash_phc(&password, &salt)).await?.ok_or(HashingUnavailable)
    }

    /// Whether `password` matches the stored `hash` (false for a malformed hash).
    pub async fn verify(&self, password: String, hash: String) -> bool {
        self.run(move || verify_phc(&password, &hash)).await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(2);
        let first = passwords.hash("correct horse".into()).await.expect("hashes");
        let second = passwords.hash("correct horse".into()).await.expect("hashes");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "salted");
        assert!(passwords.verify("correct horse".into(), first.clone()).await);
        assert!(!passwords.verify("wrong horse".into(), first).await);
        assert!(!passwords.verify("x".into(), "not a hash".into()).await);
    }

    #[tokio::test]
    async fn hashes_match_the_argon2_crates_own_and_other_parameters_still_verify() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new(1);
        let ours = passwords.hash("family dinner".into()).await.expect("hashes");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default().verify_password(b"family dinner", &parsed).is_ok(), "the crate agrees: {ours}");
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let small = Params::new(8, 1, 1, None).expect("params");
        let theirs = Argon2::new(Algorithm::Argon2i, Version::V0x10, small)
            .hash_password(b"older hash", &salt)
            .expect("hashes")
            .to_string();
        assert!(passwords.verify("older hash".into(), theirs.clone()).await, "{theirs}");
        assert!(!passwords.verify("older hasH".into(), theirs).await);
    }

    #[tokio::test]
    async fn many_concurrent_checks_all_finish_on_a_small_pool() {
        let passwords = Arc::new(Passwords::new(1));
        let hash = passwords.hash("pw-pw-pw-pw".into()).await.expect("hashes");
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let (passwords, hash) = (passwords.clone(), hash.clone());
                tokio::spawn(async move {
                    passwords.verify(if i % 2 == 0 { "pw-pw-pw-pw" } else { "nope" }.into(), hash).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for check in checks {
            results.push(check.await.expect("joins"));
        }
        assert_eq!(results, [true, false, true, false, true, false]);
    }
}
