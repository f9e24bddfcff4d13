//! The wasmtime engine every plugin runs in, and the per-call store state.
//!
//! Owns the one `Engine` (fuel and epoch interruption on; how it allocates
//! instances is `pool.rs`'s), the thread that ticks the epoch, the linker
//! that offers plugins their only import (`ebb:policy/host@0.1.0` `log`),
//! the in-memory cache of compiled
//! components (by SHA-256 of the file), and `CallState`: the memory limiter
//! and bounded log buffer of one call's fresh `Store`. It never runs a
//! plugin itself (`plugin.rs` does) and knows nothing of tables.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, ResourceLimiter};

use super::PolicyError;
use super::bindings::{WitLevel, validator};
use super::pool::{
    MAX_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, Slot, Slots, on_demand_config,
    pooled_config,
};
use crate::config::PluginLimits;

// Structural, not a tunable, like the constants in pool.rs (which say why).
/// How often the epoch advances: the resolution of `plugin_limits.timeout`,
/// which is counted in these ticks (a call may overrun its bound by up to
/// one tick). Engine-wide, since one thread ticks every plugin's epoch.
pub const TICK: Duration = Duration::from_millis(10);

/// What a plugin may log, by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The engine plugins run in. Cheap to clone; `Send + Sync`. The epoch
/// thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    components: Mutex<HashMap<[u8; 32], Component>>,
    slots: Slots,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Builds the engine and starts the epoch thread.
    pub fn new() -> Result<Sandbox, PolicyError> {
        let failed = |message: String| PolicyError::Load {
            plugin: "(sandbox)".into(),
            message,
        };
        // Pooled instances (pool.rs); where the address space cannot be
        // reserved (a `ulimit -v`, say), per-call memories: correct, slower.
        let engine = match Engine::new(&pooled_config()) {
            Ok(engine) => engine,
            Err(pool_error) => {
                tracing::warn!(
                    error = %format!("{pool_error:#}"),
                    "plugin sandbox: cannot reserve the instance pool; using per-call allocation"
                );
                Engine::new(&on_demand_config()).map_err(|e| failed(format!("{e:#}")))?
            }
        };
        let mut linker = Linker::new(&engine);
        validator::ebb::policy::host::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| failed(format!("{e:#}")))?;
        let inner = Arc::new(Inner {
            engine,
            linker,
            components: Mutex::new(HashMap::new()),
            slots: Slots::default(),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("ebb-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(inner) => inner.engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| failed(format!("cannot start the epoch thread: {e}")))?;
        Ok(Sandbox { inner })
    }

    /// Waits for a free pool slot; hold the claim until the call's store
    /// is dropped.
    pub(crate) fn slot(&self) -> Slot<'_> {
        self.inner.slots.claim()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<CallState> {
        &self.inner.linker
    }

    /// The compiled component for `bytes` (binary or WAT text), compiled
    /// once per distinct content. Returns the content hash too.
    pub(crate) fn compile(&self, bytes: &[u8]) -> wasmtime::Result<([u8; 32], Component)> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(found) = self.cached(&hash) {
            return Ok((hash, found));
        }
        let component = Component::new(&self.inner.engine, bytes)?;
        if let Ok(mut cache) = self.inner.components.lock() {
            cache.insert(hash, component.clone());
        }
        Ok((hash, component))
    }

    /// Drops every compiled component but those in `live`.
    pub(crate) fn keep_compiled(&self, live: &[[u8; 32]]) {
        if let Ok(mut cache) = self.inner.components.lock() {
            cache.retain(|hash, _| live.contains(hash));
        }
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Component> {
        self.inner.components.lock().ok()?.get(hash).cloned()
    }
}

/// Epoch ticks for a wall-clock bound: at least one.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    // One tick more than the timeout spans: the epoch thread ticks on its
    // own schedule, so the first tick may come right after the call starts
    // and a plugin would otherwise be stopped up to one tick early.
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()) + 1;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The data of one call's `Store`: limits and the log buffer.
pub(crate) struct CallState {
    limiter: Limiter,
    pub(crate) log: Vec<(Level, String)>,
    log_bytes: u64,
    max_log: u64,
    truncated: bool,
}

impl CallState {
    pub(crate) fn new(limits: &PluginLimits) -> CallState {
        CallState {
            limiter: Limiter {
                memory: usize::try_from(limits.memory).unwrap_or(usize::MAX),
                used: 0,
                before_growth: 0,
                memory_denied: false,
            },
            log: Vec::new(),
            log_bytes: 0,
            max_log: limits.max_log,
            truncated: false,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Whether the plugin asked for memory beyond its cap in this call.
    pub(crate) fn memory_denied(&self) -> bool {
        self.limiter.memory_denied
    }
}

impl validator::ebb::policy::host::Host for CallState {
    fn log(&mut self, level: WitLevel, message: String) {
        if self.truncated {
            return;
        }
        let size = message.len() as u64;
        if self.log_bytes.saturating_add(size) > self.max_log {
            self.truncated = true;
            self.log.push((Level::Warn, "[log truncated]".into()));
            return;
        }
        self.log_bytes += size;
        let level = match level {
            WitLevel::Debug => Level::Debug,
            WitLevel::Info => Level::Info,
            WitLevel::Warn => Level::Warn,
            WitLevel::Error => Level::Error,
        };
        self.log.push((level, message));
    }
}

impl validator::ebb::policy::types::Host for CallState {}

/// Caps the call's linear memory (all its memories together) and remembers
/// a denied growth, so the trap that usually follows (the guest's
/// allocator hits `unreachable`) is reported as `MemoryLimit`.
struct Limiter {
    memory: usize,
    /// Bytes of linear memory the call's memories hold now.
    used: usize,
    /// `used` before the last growth allowed, for a growth that then fails.
    before_growth: usize,
    memory_denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The cap is on all of a call's memories together: a component
        // with several memories cannot take the cap once per memory.
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.memory {
            self.memory_denied = true;
            return Ok(false);
        }
        self.before_growth = self.used;
        self.used = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Counted above, then refused by the memory's own maximum or the
        // allocation: the call did not get it.
        self.used = self.before_growth;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_at_least_one_tick() {
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
        assert_eq!(deadline_ticks(Duration::from_secs(1)), 101);
        assert_eq!(deadline_ticks(Duration::from_millis(1001)), 102);
    }

    #[test]
    fn log_is_capped_with_one_marker() {
        let limits = PluginLimits {
            max_log: 10,
            ..PluginLimits::default()
        };
        let mut state = CallState::new(&limits);
        use validator::ebb::policy::host::Host;
        state.log(WitLevel::Info, "12345".into());
        state.log(WitLevel::Debug, "12345".into());
        state.log(WitLevel::Error, "1".into());
        state.log(WitLevel::Error, "2".into());
        assert_eq!(
            state.log,
            vec![
                (Level::Info, "12345".to_string()),
                (Level::Debug, "12345".to_string()),
                (Level::Warn, "[log truncated]".to_string()),
            ]
        );
    }

    #[test]
    fn memory_cap_counts_every_memory_of_the_call() {
        let limits = PluginLimits {
            memory: 100 << 10,
            ..PluginLimits::default()
        };
        let mut state = CallState::new(&limits);
        let limiter = state.limiter();
        assert!(limiter.memory_growing(0, 64 << 10, None).unwrap());
        assert!(!limiter.memory_growing(0, 64 << 10, None).unwrap());
        assert!(limiter.memory_growing(0, 36 << 10, None).unwrap());
        assert!(!limiter.memory_growing(64 << 10, 65 << 10, None).unwrap());
        assert!(state.memory_denied());

        // A growth allowed here but then refused by wasmtime (the memory's
        // own maximum) gives its bytes back.
        let mut state = CallState::new(&limits);
        let limiter = state.limiter();
        assert!(limiter.memory_growing(0, 64 << 10, None).unwrap());
        assert!(limiter.memory_growing(64 << 10, 96 << 10, None).unwrap());
        limiter
            .memory_grow_failed(wasmtime::Error::msg("over its maximum"))
            .unwrap();
        assert!(limiter.memory_growing(0, 36 << 10, None).unwrap());
    }

    #[test]
    fn same_bytes_compile_once() {
        let sandbox = Sandbox::new().unwrap();
        let (a, _) = sandbox.compile(b"(component)").unwrap();
        let (b, _) = sandbox.compile(b"(component)").unwrap();
        assert_eq!(a, b);
        assert_eq!(sandbox.inner.components.lock().unwrap().len(), 1);
        let (c, _) = sandbox.compile(b"(component (core module))").unwrap();
        sandbox.keep_compiled(&[c]);
        let cache = sandbox.inner.components.lock().unwrap();
        assert_eq!(cache.keys().collect::<Vec<_>>(), vec![&c]);
    }
}
