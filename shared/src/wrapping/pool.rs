//! The wrapping-key pool: RSA key pairs generated ahead of time on background threads, so that
//! GetParametersForImport hands out a fresh key without waiting ~80 ms (RSA_2048) to ~450 ms
//! (RSA_4096) for generation.
//!
//! * `take` pops a ready key in O(1). An empty pool still answers: it generates on demand (a
//!   *miss*), or, when the user opted in for load tests, hands out a recently issued key again
//!   (a *reuse*).
//! * Refill threads keep each spec at its target level, generating for the spec furthest below
//!   target first.
//! * The ready keys can be saved to a sealed pool file and claimed by the next process, so its
//!   first requests are answered from the pool. A file is claimed by renaming it, so two
//!   processes never load the same keys. While it runs, the pool's journal (`journal`) keeps
//!   the same keys on disk as they are made and drawn, for a start after `kill -9`.

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use super::journal::{self, Journal};
use super::pair::WrappingKeyPair;
use super::pool_file::{self, PoolFileEntry};
use super::spec::{PerSpec, PooledSpec};
use crate::crypto::seal::{Purpose, Sealer};
use crate::domain::spec::WrappingKeySpec;

/// How many recently issued keys per spec are kept for reuse mode.
const REUSE_RING: usize = 64;

/// In reuse mode, a spec's refill waits until its keys have not been reused for this long.
const REUSE_QUIET: Duration = Duration::from_secs(1);

/// Where a handed-out key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    Pool,
    /// Claimed from the shared pool in the store.
    Shared,
    Generated,
    Reused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Target number of ready keys of each spec.
    pub targets: PerSpec<usize>,
    /// Background generator threads (0: no background refill).
    pub refill_threads: usize,
    /// Hand out recent keys again when a spec runs dry, instead of generating.
    pub reuse: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            targets: PerSpec::new(16, 8, 8),
            // Every core, at the lowest priority: generation soaks up idle time.
            refill_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            reuse: false,
        }
    }
}

fn pooled(spec: WrappingKeySpec) -> PooledSpec {
    PooledSpec::of(spec).expect("SM2 has no pool")
}

struct Slot {
    spec: WrappingKeySpec,
    target: usize,
    ready: Mutex<VecDeque<Arc<WrappingKeyPair>>>,
    recent: Mutex<VecDeque<Arc<WrappingKeyPair>>>,
    hits: AtomicU64,
    /// Keys taken from the shared pool in the store because this pool had none ready.
    shared_hits: AtomicU64,
    misses: AtomicU64,
    reused: AtomicU64,
    /// When a key of this spec was last reused, in milliseconds since the pool started.
    last_reuse_ms: AtomicU64,
    generated: AtomicU64,
    generate_micros: AtomicU64,
    /// When a key of this spec was last asked for, in milliseconds since the pool started.
    last_draw_ms: AtomicU64,
    /// Keys of this spec asked for so far: the target grows with them (see `goal`).
    draws: AtomicU64,
    /// Signalled when a refill thread adds a key, for requests waiting on a miss.
    added: tokio::sync::Notify,
    /// Keys refill threads are making now: counted with the ready ones, so that two threads
    /// do not both make the last key a spec lacks.
    in_flight: std::sync::atomic::AtomicUsize,
}

/// How far the demand seen raises a spec's target: by one key for each key asked for, up to
/// this many ready keys in all (RSA_4096 pairs are about 5 KB each).
const MAX_GOAL: usize = 64;

/// A spec asked for within this long is filled before those that were not.
const RECENT_DEMAND: Duration = Duration::from_secs(30);

impl Slot {
    /// How many ready keys to keep: the configured target, raised by the demand seen (a suite
    /// that asked for 32 keys will likely ask for as many again). Zero stays zero: a spec
    /// configured off is never generated in the background.
    fn goal(&self) -> usize {
        if self.target == 0 {
            return 0;
        }
        let draws = self.draws.load(Ordering::Relaxed) as usize;
        (self.target + draws).min(MAX_GOAL.max(self.target))
    }
}

struct Shared {
    slots: PerSpec<Slot>,
    reuse: bool,
    refill_threads: usize,
    /// Wakes refill threads; the flag is "shutting down".
    wake: (Mutex<bool>, Condvar),
    /// Held while a refill thread picks its next spec and reserves it.
    choosing: Mutex<()>,
    started: Instant,
    /// Set once the pool file's folder is known (`recover`); none for a pool without a file.
    journal: OnceLock<Journal>,
}

/// A cheap handle to the pool; clones share it.
#[derive(Clone)]
pub struct WrappingKeyPool {
    shared: Arc<Shared>,
}

impl fmt::Debug for WrappingKeyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappingKeyPool").finish_non_exhaustive()
    }
}

/// Counters for one spec, as the metrics endpoint and logs show them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpecStats {
    pub spec: WrappingKeySpec,
    pub target: usize,
    pub ready: usize,
    pub hits: u64,
    /// Taken from the shared pool in the store (this pool had none ready).
    pub shared_hits: u64,
    pub misses: u64,
    pub reused: u64,
    pub generated: u64,
    /// Mean time to generate one key of this spec, in milliseconds.
    pub mean_generate_ms: f64,
    /// Keys per second the refill threads can add at that speed.
    pub refill_capacity_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolStats {
    pub reuse: bool,
    pub refill_threads: usize,
    pub uptime_secs: f64,
    pub specs: Vec<SpecStats>,
}

impl WrappingKeyPool {
    /// An empty pool; call [`start_refill`](Self::start_refill) to fill it.
    pub fn new(config: &PoolConfig) -> Self {
        let slot = |spec: WrappingKeySpec| Slot {
            spec,
            target: config.targets[pooled(spec)],
            ready: Mutex::default(),
            recent: Mutex::default(),
            hits: AtomicU64::new(0),
            shared_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            last_reuse_ms: AtomicU64::new(0),
            generated: AtomicU64::new(0),
            generate_micros: AtomicU64::new(0),
            last_draw_ms: AtomicU64::new(0),
            draws: AtomicU64::new(0),
            added: tokio::sync::Notify::new(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        };
        Self {
            shared: Arc::new(Shared {
                slots: PerSpec::from_fn(|s| slot(s.spec())),
                reuse: config.reuse,
                refill_threads: config.refill_threads,
                wake: (Mutex::new(false), Condvar::new()),
                choosing: Mutex::new(()),
                started: Instant::now(),
                journal: OnceLock::new(),
            }),
        }
    }

    fn slot(&self, spec: WrappingKeySpec) -> &Slot {
        &self.shared.slots[pooled(spec)]
    }

    /// A key for one GetParametersForImport call: from the pool when it has one, else reused
    /// (if enabled), else whichever comes first of a key the refill threads finish and one
    /// generated for this call on a blocking thread; the other one goes into the pool.
    pub async fn take(&self, spec: WrappingKeySpec) -> (Arc<WrappingKeyPair>, KeySource) {
        if let Some(hit) = self.take_ready(spec) {
            return hit;
        }
        let slot = self.slot(spec);
        slot.misses.fetch_add(1, Ordering::Relaxed);
        self.note_draw(slot);
        let (tx, rx) = tokio::sync::oneshot::channel::<Arc<WrappingKeyPair>>();
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let slot = pool.slot(spec);
            let pair = Arc::new(pool.timed_generate(slot));
            // The caller took a refilled key meanwhile: this one is ready for the next call
            // (remembered for reuse only once handed out, so that it is never both).
            if let Err(pair) = tx.send(pair) {
                pool.enter(slot, pair);
                slot.added.notify_one();
            }
        });
        self.wake_refill();
        let refilled = async {
            loop {
                let added = slot.added.notified();
                let popped = lock(&slot.ready).pop_front();
                match popped {
                    Some(pair) if self.leave(&pair) => return pair,
                    Some(_) => continue,
                    None => added.await,
                }
            }
        };
        tokio::select! {
            generated = rx => match generated {
                Ok(pair) => {
                    self.remember(slot, &pair);
                    (pair, KeySource::Generated)
                }
                Err(_) => std::panic::resume_unwind(Box::new("wrapping key generation failed")),
            },
            pair = refilled => {
                self.remember(slot, &pair);
                (pair, KeySource::Pool)
            }
        }
    }

    /// The O(1) path: a ready key, or a recent one in reuse mode.
    pub fn take_ready(&self, spec: WrappingKeySpec) -> Option<(Arc<WrappingKeyPair>, KeySource)> {
        let slot = self.slot(spec);
        let popped = loop {
            let popped = lock(&slot.ready).pop_front();
            match popped {
                Some(pair) if !self.leave(&pair) => continue,
                other => break other,
            }
        };
        if let Some(pair) = popped {
            self.note_draw(slot);
            slot.hits.fetch_add(1, Ordering::Relaxed);
            self.remember(slot, &pair);
            self.wake_refill();
            return Some((pair, KeySource::Pool));
        }
        if self.shared.reuse {
            let mut recent = lock(&slot.recent);
            if let Some(pair) = recent.pop_front() {
                self.note_draw(slot);
                recent.push_back(pair.clone());
                slot.reused.fetch_add(1, Ordering::Relaxed);
                slot.last_reuse_ms
                    .store(self.uptime_ms().max(1), Ordering::Relaxed);
                return Some((pair, KeySource::Reused));
            }
        }
        None
    }

    /// Counts a key of `spec` taken from the shared pool instead (for the stats).
    pub fn record_shared_hit(&self, spec: WrappingKeySpec) {
        let slot = self.slot(spec);
        self.note_draw(slot);
        slot.shared_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A key of this spec was handed out: demand, for the refill's order and goal.
    fn note_draw(&self, slot: &Slot) {
        slot.draws.fetch_add(1, Ordering::Relaxed);
        slot.last_draw_ms
            .store(self.uptime_ms().max(1), Ordering::Relaxed);
    }

    fn timed_generate(&self, slot: &Slot) -> WrappingKeyPair {
        let t = Instant::now();
        let pair = WrappingKeyPair::generate(slot.spec);
        slot.generate_micros
            .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        slot.generated.fetch_add(1, Ordering::Relaxed);
        pair
    }

    fn remember(&self, slot: &Slot, pair: &Arc<WrappingKeyPair>) {
        if self.shared.reuse {
            let mut recent = lock(&slot.recent);
            if recent.len() == REUSE_RING {
                recent.pop_front();
            }
            recent.push_back(pair.clone());
        }
    }

    /// A key joins the ready queue: journaled first, so that it is on disk before anyone can
    /// draw it.
    fn enter(&self, slot: &Slot, pair: Arc<WrappingKeyPair>) {
        if let Some(j) = self.shared.journal.get() {
            j.added(&pair);
        }
        lock(&slot.ready).push_back(pair);
    }

    /// A key left the ready queue to be handed out: its drawn record is written before any
    /// client sees it, so that a recovered journal never offers it again. False: it must not
    /// be handed out (its drawn record could not be written); it is dropped.
    #[must_use]
    fn leave(&self, pair: &WrappingKeyPair) -> bool {
        self.shared.journal.get().is_none_or(|j| j.drawn(pair))
    }

    fn wake_refill(&self) {
        self.shared.wake.1.notify_all();
    }

    /// Adds ready keys (from a pool file, or made elsewhere).
    pub fn add_ready(&self, pairs: impl IntoIterator<Item = WrappingKeyPair>) {
        for p in pairs {
            self.enter(self.slot(p.spec()), Arc::new(p));
        }
    }

    fn uptime_ms(&self) -> u64 {
        self.shared.started.elapsed().as_millis() as u64
    }

    /// Whether keys of this spec are being reused right now: demand is above what generation
    /// can supply, so a key generated now would be one fresh key among thousands of reused
    /// ones, and generating it would take CPU from the requests. Refill waits for the burst
    /// to end.
    fn reuse_burst(&self, slot: &Slot) -> bool {
        let last = slot.last_reuse_ms.load(Ordering::Relaxed);
        last != 0 && self.uptime_ms().saturating_sub(last) < REUSE_QUIET.as_millis() as u64
    }

    /// The spec to make a key of next, if any is below its goal (and not in a reuse burst):
    /// those asked for recently first, then RSA_4096 (the slowest to make, and the spec AWS's
    /// examples use), then the lowest fill ratio.
    fn most_needed(&self) -> Option<WrappingKeySpec> {
        let now = self.uptime_ms();
        let recent = |s: &Slot| {
            let last = s.last_draw_ms.load(Ordering::Relaxed);
            last != 0 && now.saturating_sub(last) < RECENT_DEMAND.as_millis() as u64
        };
        self.shared
            .slots
            .values()
            .filter(|s| s.goal() > 0 && !self.reuse_burst(s))
            .map(|s| {
                (
                    s,
                    lock(&s.ready).len() + s.in_flight.load(Ordering::Relaxed),
                )
            })
            .filter(|(s, n)| *n < s.goal())
            .min_by(|(a, na), (b, nb)| {
                let key = |s: &Slot, n: usize| {
                    (
                        !recent(s),
                        s.spec != WrappingKeySpec::Rsa4096,
                        n as f64 / s.goal() as f64,
                    )
                };
                let (ka, kb) = (key(a, *na), key(b, *nb));
                (ka.0, ka.1).cmp(&(kb.0, kb.1)).then(ka.2.total_cmp(&kb.2))
            })
            .map(|(s, _)| s.spec)
    }

    /// Starts the background refill threads; they stop with [`shutdown`](Self::shutdown).
    pub fn start_refill(&self) {
        for i in 0..self.shared.refill_threads {
            let pool = self.clone();
            std::thread::Builder::new()
                .name(format!("wrapping-key-refill-{i}"))
                .spawn(move || pool.refill_loop())
                .expect("spawn refill thread");
        }
    }

    fn refill_loop(&self) {
        lower_thread_priority();
        let (flag, cv) = &self.shared.wake;
        loop {
            if *lock(flag) {
                return;
            }
            // Choosing and reserving together, so that another thread sees the reservation.
            let chosen = {
                let _choosing = lock(&self.shared.choosing);
                self.most_needed().inspect(|spec| {
                    self.slot(*spec).in_flight.fetch_add(1, Ordering::Relaxed);
                })
            };
            match chosen {
                Some(spec) => {
                    let slot = self.slot(spec);
                    let pair = self.timed_generate(slot);
                    self.enter(slot, Arc::new(pair));
                    slot.in_flight.fetch_sub(1, Ordering::Relaxed);
                    slot.added.notify_one();
                }
                None => {
                    let guard = lock(flag);
                    if *guard {
                        return;
                    }
                    // Re-checked on every take; the timeout only bounds a missed wake-up.
                    let _ = cv.wait_timeout(guard, Duration::from_secs(1));
                }
            }
        }
    }

    /// Stops the refill threads (after the key each is generating).
    pub fn shutdown(&self) {
        *lock(&self.shared.wake.0) = true;
        self.shared.wake.1.notify_all();
    }

    /// Blocks until every spec is at its target or `timeout` passes; true when full.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let below = |s: &Slot| lock(&s.ready).len() < s.target;
        while self.shared.slots.values().any(below) {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn stats(&self) -> PoolStats {
        let threads = self.shared.refill_threads;
        PoolStats {
            reuse: self.shared.reuse,
            refill_threads: threads,
            uptime_secs: self.shared.started.elapsed().as_secs_f64(),
            specs: self
                .shared
                .slots
                .values()
                .map(|s| {
                    let generated = s.generated.load(Ordering::Relaxed);
                    let micros = s.generate_micros.load(Ordering::Relaxed);
                    let mean_ms = if generated == 0 {
                        0.0
                    } else {
                        micros as f64 / generated as f64 / 1000.0
                    };
                    SpecStats {
                        spec: s.spec,
                        target: s.target,
                        ready: lock(&s.ready).len(),
                        hits: s.hits.load(Ordering::Relaxed),
                        shared_hits: s.shared_hits.load(Ordering::Relaxed),
                        misses: s.misses.load(Ordering::Relaxed),
                        reused: s.reused.load(Ordering::Relaxed),
                        generated,
                        mean_generate_ms: mean_ms,
                        refill_capacity_per_sec: if mean_ms > 0.0 {
                            threads as f64 * 1000.0 / mean_ms
                        } else {
                            0.0
                        },
                    }
                })
                .collect(),
        }
    }

    /// Writes the ready keys to a sealed pool file (atomically replacing it) and empties the
    /// pool, so the keys cannot also be handed out here. Returns how many were saved.
    pub fn save(&self, path: &Path, sealer: &Sealer) -> std::io::Result<usize> {
        let mut entries = Vec::new();
        for slot in self.shared.slots.values() {
            for pair in lock(&slot.ready).drain(..) {
                entries.push(PoolFileEntry {
                    spec: pair.spec(),
                    pkcs8: B64.encode(pair.private_key_pkcs8()),
                });
            }
        }
        let plain = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
        let sealed = sealer.seal(Purpose::WrappingKeyPool, &plain);
        let tmp = pool_file::per_process(path, "saving");
        // A failed save (a full disk, most often) leaves nothing behind but the journal, which
        // the next start recovers. Once the file is written, the journal goes before the file
        // takes its name: at no moment do both hold the keys for a next start.
        let saved = crate::private_file::write(&tmp, &sealed).and_then(|()| {
            if !self.shared.journal.get().is_none_or(Journal::remove) {
                // The journal keeps the keys (and its lock, until this process ends).
                return Err(std::io::Error::other(
                    "the pool's journal could not be removed; its keys stay in it",
                ));
            }
            std::fs::rename(&tmp, path)
        });
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(entries.len())
    }

    /// Removes the temporary files (`.saving.<pid>`, `.claimed.<pid>`) beside the pool file of
    /// processes that no longer run: killed while saving or loading. Those of live processes
    /// (several share a data folder) stay. Returns how many were removed.
    pub fn sweep_stale(path: &Path) -> usize {
        let mut removed = 0;
        for (rest, file) in pool_file::beside(path) {
            // `<what>.<pid>`, or `<what>.<pid>.<n>` for a recovered journal.
            let pid = match rest.split_once('.') {
                Some(("saving" | "claimed" | "recovering" | "compacting", rest)) => {
                    rest.split('.').next().and_then(|p| p.parse::<u32>().ok())
                }
                _ => None,
            };
            if pid.is_some_and(|p| !alive_elsewhere(p)) && std::fs::remove_file(&file).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Recovers the journals of processes that were killed (each claimed while its lock is
    /// free, so only once its owner is gone, and by one process alone), starts this process's
    /// journal, and puts the recovered keys into the pool (journaled again), before the claimed
    /// files go. Call it before [`load`](Self::load), so that the pool file's keys are
    /// journaled too. Returns how many keys were recovered; without a journal (a folder it
    /// cannot write) the pool still works.
    pub fn recover(&self, path: &Path, sealer: &Arc<Sealer>) -> std::io::Result<usize> {
        let claimed = journal::claim_orphans(path);
        let pairs: Vec<_> = claimed
            .iter()
            .flat_map(|c| journal::replay(&c.bytes, sealer))
            .collect();
        let started =
            Journal::create(path, sealer.clone()).map(|j| drop(self.shared.journal.set(j)));
        let n = pairs.len();
        self.add_ready(pairs);
        for c in &claimed {
            let _ = std::fs::remove_file(&c.path);
        }
        started.map(|()| n)
    }

    /// Claims a pool file (rename, so no other process gets the same keys), loads its keys
    /// into the pool and removes it. A missing file loads nothing.
    pub fn load(&self, path: &Path, sealer: &Sealer) -> std::io::Result<usize> {
        let claimed = pool_file::per_process(path, "claimed");
        match std::fs::rename(path, &claimed) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            other => other?,
        }
        let sealed = std::fs::read(&claimed);
        let _ = std::fs::remove_file(&claimed);
        let bad = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("pool file {}: {what}", path.display()),
            )
        };
        let plain = sealer
            .open(Purpose::WrappingKeyPool, &sealed?)
            .ok_or_else(|| bad("not sealed under this secret"))?;
        let entries: Vec<PoolFileEntry> =
            serde_json::from_slice(&plain).map_err(|_| bad("malformed"))?;
        let mut pairs = Vec::with_capacity(entries.len());
        for e in entries {
            let der = B64.decode(e.pkcs8).map_err(|_| bad("malformed key"))?;
            pairs.push(WrappingKeyPair::from_pkcs8(e.spec, &der).ok_or_else(|| bad("bad key"))?);
        }
        let n = pairs.len();
        self.add_ready(pairs);
        Ok(n)
    }
}

/// Whether another process with this id runs: this process's own id counts as not running
/// (files under it are an earlier process's).
fn alive_elsewhere(pid: u32) -> bool {
    pid != std::process::id() && process_alive(pid)
}

/// Whether a process with this id runs (or may: one of another user, which signals refuse).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let sent = unsafe { libc::kill(pid, 0) };
        sent == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Refill threads run at the lowest CPU priority (nice 19), so that key generation soaks up
/// idle time rather than delaying request threads. (Not `SCHED_IDLE`: a refill thread starved
/// while holding a pool lock stalled requests for hundreds of milliseconds.)
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain system call; on Linux, PRIO_PROCESS with who = 0 applies to the calling
    // thread only.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a pool lock cannot leave a queue half-updated; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small(targets: PerSpec<usize>, reuse: bool) -> WrappingKeyPool {
        WrappingKeyPool::new(&PoolConfig {
            targets,
            refill_threads: 1,
            reuse,
        })
    }

    #[test]
    fn generated_keys_have_the_requested_size() {
        for spec in WrappingKeySpec::RSA {
            let p = WrappingKeyPair::generate(spec);
            let public = aws_lc_rs::rsa::PublicEncryptingKey::from_der(p.public_key_der()).unwrap();
            assert_eq!(Some(public.key_size_bits()), spec.rsa_bits());
            let again = WrappingKeyPair::from_pkcs8(spec, p.private_key_pkcs8()).unwrap();
            assert_eq!(again.public_key_der(), p.public_key_der());
        }
        let p = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
        assert!(
            WrappingKeyPair::from_pkcs8(WrappingKeySpec::Rsa3072, p.private_key_pkcs8()).is_none()
        );
        assert!(!format!("{p:?}").contains(&format!("{:?}", &p.private_key_pkcs8()[..8])));
    }

    #[test]
    fn demand_raises_the_goal_and_a_miss_takes_the_first_key_ready() {
        let pool = small(PerSpec::new(2, 0, 1), false);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let slot = pool.slot(WrappingKeySpec::Rsa2048);
        assert_eq!(slot.goal(), 2);
        // Nothing asked for yet: RSA_4096 is filled first.
        assert_eq!(pool.most_needed(), Some(WrappingKeySpec::Rsa4096));
        // A miss while a key is added meanwhile: the added key serves it, the generated one
        // joins the pool, and no key is handed out twice.
        let waiting = {
            let pool = pool.clone();
            rt.spawn(async move { pool.take(WrappingKeySpec::Rsa2048).await })
        };
        std::thread::sleep(Duration::from_millis(5));
        let extra = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
        let extra_der = extra.public_key_der().to_vec();
        lock(&slot.ready).push_back(Arc::new(extra));
        slot.added.notify_one();
        let (got, _) = rt.block_on(waiting).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while lock(&slot.ready).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<Vec<u8>> = lock(&slot.ready)
            .iter()
            .map(|p| p.public_key_der().to_vec())
            .collect();
        let mut all = left.clone();
        all.push(got.public_key_der().to_vec());
        assert!(all.contains(&extra_der));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2, "two keys, each once");
        // The demand seen raises the goal, and puts the spec first.
        assert_eq!(slot.goal(), 3);
        assert_eq!(pool.most_needed(), Some(WrappingKeySpec::Rsa2048));
    }

    #[test]
    fn refill_fills_and_take_hits_then_misses() {
        let pool = small(PerSpec::new(3, 0, 0), false);
        pool.start_refill();
        assert!(pool.wait_full(Duration::from_secs(30)));
        pool.shutdown();
        std::thread::sleep(Duration::from_millis(50));
        let mut seen = HashSet::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..3 {
            let (p, src) = rt.block_on(pool.take(WrappingKeySpec::Rsa2048));
            assert_eq!(src, KeySource::Pool);
            assert!(seen.insert(p.public_key_der().to_vec()));
        }
        let (p, src) = rt.block_on(pool.take(WrappingKeySpec::Rsa2048));
        assert_eq!(src, KeySource::Generated);
        assert!(seen.insert(p.public_key_der().to_vec()));
        let s = &pool.stats().specs[0];
        assert_eq!((s.hits, s.misses, s.reused, s.ready), (3, 1, 0, 0));
        assert!(s.generated >= 4);
        assert!(s.mean_generate_ms > 0.0);
    }

    #[test]
    fn reuse_mode_hands_out_recent_keys() {
        let pool = small(PerSpec::default(), true);
        pool.add_ready([WrappingKeyPair::generate(WrappingKeySpec::Rsa2048)]);
        let (a, src) = pool.take_ready(WrappingKeySpec::Rsa2048).unwrap();
        assert_eq!(src, KeySource::Pool);
        let (b, src) = pool.take_ready(WrappingKeySpec::Rsa2048).unwrap();
        assert_eq!(src, KeySource::Reused);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(pool.take_ready(WrappingKeySpec::Rsa3072).is_none());
        let s = &pool.stats().specs[0];
        assert_eq!((s.hits, s.reused), (1, 1));
    }

    #[test]
    fn reuse_bursts_pause_refill() {
        let pool = small(PerSpec::new(1, 0, 0), true);
        pool.add_ready([WrappingKeyPair::generate(WrappingKeySpec::Rsa2048)]);
        pool.take_ready(WrappingKeySpec::Rsa2048).unwrap();
        let (_, src) = pool.take_ready(WrappingKeySpec::Rsa2048).unwrap();
        assert_eq!(src, KeySource::Reused);
        pool.start_refill();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            pool.stats().specs[0].generated,
            0,
            "no generation during the burst"
        );
        assert!(
            pool.wait_full(Duration::from_secs(30)),
            "refills once the burst is over"
        );
        pool.shutdown();
    }

    #[test]
    fn a_killed_processs_journal_is_recovered_once_without_the_keys_it_handed_out() {
        let dir = std::env::temp_dir().join(format!("kms-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pool.sealed");
        let sealer = Arc::new(Sealer::random());
        let spec = WrappingKeySpec::Rsa2048;
        let keys: Vec<_> = (0..3).map(|_| WrappingKeyPair::generate(spec)).collect();
        let publics: Vec<Vec<u8>> = keys.iter().map(|k| k.public_key_der().to_vec()).collect();
        let a = small(PerSpec::default(), false);
        assert_eq!(a.recover(&file, &sealer).unwrap(), 0);
        let journals = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let live = journals(&dir);
        assert_eq!(live.len(), 1);
        assert!(live[0].starts_with(&format!("pool.sealed.live.{}.", std::process::id())));
        a.add_ready(keys);
        let (first, _) = a.take_ready(spec).unwrap();
        assert_eq!(first.public_key_der(), &publics[0][..]);
        // While `a` lives, its journal is locked: nobody recovers it.
        let x = small(PerSpec::default(), false);
        assert_eq!(x.recover(&file, &sealer).unwrap(), 0);
        drop(x);
        // `a` is killed here: no save; its lock goes with it.
        drop(a);
        let b = small(PerSpec::default(), false);
        assert_eq!(b.recover(&file, &sealer).unwrap(), 2);
        let ready = |p: &WrappingKeyPool| -> Vec<Vec<u8>> {
            lock(&p.slot(spec).ready)
                .iter()
                .map(|k| k.public_key_der().to_vec())
                .collect()
        };
        assert_eq!(
            ready(&b),
            publics[1..].to_vec(),
            "the key handed out is not offered again"
        );
        // The recovered keys are in b's own journal; the claimed file is gone.
        let names = journals(&dir);
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("pool.sealed.live.") && names[0] != live[0]);
        let (second, _) = b.take_ready(spec).unwrap();
        assert_eq!(second.public_key_der(), &publics[1][..]);
        drop(b);
        let c = small(PerSpec::default(), false);
        assert_eq!(c.recover(&file, &sealer).unwrap(), 1);
        assert_eq!(ready(&c), vec![publics[2].clone()]);
        // A clean exit: the pool file holds the key, the journal is gone.
        assert_eq!(c.save(&file, &sealer).unwrap(), 1);
        assert_eq!(journals(&dir), vec!["pool.sealed".to_string()]);
        let d = small(PerSpec::default(), false);
        assert_eq!(d.recover(&file, &sealer).unwrap(), 0);
        assert_eq!(d.load(&file, &sealer).unwrap(), 1);
        assert_eq!(ready(&d), vec![publics[2].clone()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pool_file_round_trip_is_claimed_once() {
        let dir = std::env::temp_dir().join(format!("kms-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pool.sealed");
        let sealer = Sealer::random();
        let a = small(PerSpec::default(), false);
        a.add_ready([
            WrappingKeyPair::generate(WrappingKeySpec::Rsa2048),
            WrappingKeyPair::generate(WrappingKeySpec::Rsa2048),
        ]);
        assert_eq!(a.save(&file, &sealer).unwrap(), 2);
        assert_eq!(a.stats().specs[0].ready, 0, "saved keys leave the pool");

        let b = small(PerSpec::default(), false);
        assert!(b.load(&file, &Sealer::random()).is_err(), "other secret");
        // The failed load consumed the file: a pool file is claimed exactly once.
        assert_eq!(b.load(&file, &sealer).unwrap(), 0);

        let key = WrappingKeyPair::generate(WrappingKeySpec::Rsa4096);
        let public = key.public_key_der().to_vec();
        a.add_ready([key]);
        assert_eq!(a.save(&file, &sealer).unwrap(), 1);
        assert_eq!(b.load(&file, &sealer).unwrap(), 1);
        assert_eq!(b.load(&file, &sealer).unwrap(), 0);
        let (got, src) = b.take_ready(WrappingKeySpec::Rsa4096).unwrap();
        assert_eq!((got.public_key_der(), src), (&public[..], KeySource::Pool));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporary_files_of_dead_processes_are_swept() {
        let dir = std::env::temp_dir().join(format!("kms-sweep-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wrapping-key-pool.sealed");
        let mut dead = 4_194_000u32;
        while std::path::Path::new(&format!("/proc/{dead}")).exists() {
            dead += 1;
        }
        let me = std::process::id();
        // init always runs; this process's own id is an earlier process's (containers).
        let names = [
            format!("wrapping-key-pool.sealed.saving.{dead}"),
            format!("wrapping-key-pool.sealed.claimed.{dead}"),
            format!("wrapping-key-pool.sealed.recovering.{dead}.0"),
            format!("wrapping-key-pool.sealed.compacting.{dead}"),
            format!("wrapping-key-pool.sealed.claimed.{me}"),
            "wrapping-key-pool.sealed.saving.1".to_string(),
            format!("wrapping-key-pool.sealed.live.{dead}"),
            format!("wrapping-key-pool.sealed.other.{dead}"),
            "wrapping-key-pool.sealed".to_string(),
            format!("unrelated.saving.{dead}"),
        ];
        for n in &names {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        assert_eq!(WrappingKeyPool::sweep_stale(&file), 5);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // A dead process's journal is recovered (`recover`), not swept.
        let mut expected = names[5..].to_vec();
        expected.sort();
        assert_eq!(left, expected);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
