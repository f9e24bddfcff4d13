//! How the plugin engine allocates instances, and the claim each call holds.
//!
//! A pool of pre-reserved slots makes a fresh store per call cheap:
//! instantiation maps the plugin's memory image copy-on-write into a slot
//! the same plugin used last time, and teardown resets the slot's low
//! `KEEP_RESIDENT` bytes in place and hands the pages above back to the
//! kernel, so the next call starts from the image. `Slots` bounds the
//! calls running at once to the pool's size, so a call past it waits
//! instead of failing to instantiate. Where the pool cannot be reserved,
//! `on_demand_config` is the fallback.

use std::sync::{Condvar, Mutex};

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

// The constants below are structural, not tunables, and deliberately not in
// policies.toml: the knobs a user turns are `[plugin_limits]` (fuel, timeout,
// memory, input, output, log), which bound what a call may cost. These only
// fix how those bounds are enforced or describe the shape every valid plugin
// has; no workload is served better by another value.

/// Most core instances, tables and memories one plugin may create per call.
/// A component built by wit-component (the only supported build, see
/// DESIGN.md) has a handful of each; these reject a malformed one.
pub(super) const MAX_INSTANCES: usize = 32;
pub(super) const MAX_TABLES: usize = 32;
/// Room a plugin memory gets to grow into without being moved. Real
/// plugins (Rust's allocator, serde_json) grow their memory many times per
/// call; with no room each growth reallocates and copies the whole memory
/// (1.8 ms per call for the example validator, 35 us with this room:
/// examples/bench_policy). Virtual until touched.
pub(super) const GROWTH_ROOM: u64 = 4 << 20;
pub(super) const MAX_MEMORIES: usize = 4;
/// Calls that may run at once in one sandbox (one per thread calling
/// plugins; sync calls them one at a time). Each slot reserves
/// `MAX_MEMORY` of address space, not memory.
pub(super) const POOL_SLOTS: u32 = 32;
/// The largest `plugin_limits.memory` the config accepts.
pub(super) const MAX_MEMORY: u64 = 4 << 30;
/// The low bytes of a slot's memory reset in place (copied back from the
/// image or zeroed) when a call ends; pages above are handed back to the
/// kernel. A plugin built with a 128 KiB stack (.cargo/config.toml) does
/// all its work below this, so its next call takes no page faults.
const KEEP_RESIDENT: usize = 256 << 10;
/// Most elements in one table. Tables live outside linear memory, so
/// `plugin_limits.memory` does not bound them; this does (a few MB of host
/// memory at most). Function tables of real plugins hold hundreds of entries.
pub(super) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Calls running in one sandbox, at most `POOL_SLOTS`.
#[derive(Default)]
pub(super) struct Slots {
    running: Mutex<u32>,
    freed: Condvar,
}

impl Slots {
    /// Waits for a free slot and claims it until the `Slot` is dropped.
    pub(super) fn claim(&self) -> Slot<'_> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= POOL_SLOTS {
            running = self.freed.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        *running += 1;
        Slot { slots: self }
    }
}

/// One call's claim on a pool slot; frees it when dropped.
pub(crate) struct Slot<'a> {
    slots: &'a Slots,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut running = self.slots.running.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        self.slots.freed.notify_one();
    }
}

/// Settings every engine shares: fuel and epoch interruption.
fn base_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    config
}

/// The pooling allocator: `POOL_SLOTS` concurrent calls, each memory slot
/// as large as the largest `plugin_limits.memory` allowed (4 GiB, virtual
/// until touched), with copy-on-write memory images. Bounds are checked
/// in the compiled code, not by page protection (`signals_based_traps`
/// off): a slot then keeps the pages a call grew into read/write (reset
/// like the rest), where with protection every call whose plugin grows
/// its memory paid two `mprotect`s, each a TLB flush on every core (a
/// quarter of the real validator's call, `examples/bench_policy`).
///
/// Wasmtime then compiles bounds checks without their Spectre hardening
/// (it requires that), so a check could be passed speculatively. Nothing
/// could read what such a load touched: a plugin has no clock, no thread
/// and no shared memory to time its own accesses with (its one import is
/// a bounded `log`), and every architectural access is still checked, with
/// the slot reset between calls. A larger initial memory instead (1 MiB,
/// no growth for the example validator) kept the `mprotect`s and was
/// slower.
pub(super) fn pooled_config() -> wasmtime::Config {
    let mut pool = PoolingAllocationConfig::new();
    // Totals fit POOL_SLOTS calls of the largest component allowed, so a
    // call that holds a slot always finds room in the pool.
    pool.total_component_instances(POOL_SLOTS)
        .total_core_instances(POOL_SLOTS * MAX_INSTANCES as u32)
        .total_memories(POOL_SLOTS * MAX_MEMORIES as u32)
        .total_tables(POOL_SLOTS * MAX_TABLES as u32)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .max_memory_size(MAX_MEMORY as usize)
        .table_elements(MAX_TABLE_ELEMENTS)
        // Not PAGEMAP_SCAN with keep-resident memory, though it halves a
        // call's cost: in wasmtime 48 a page a call dirtied that the kernel
        // swapped out before the reset is neither reset nor decommitted,
        // so the slot's next call could read the previous call's data
        // (bytecodealliance/wasmtime#14357, open). A fresh call must see
        // fresh memory: the kept bytes are reset whole, the rest decommitted.
        .pagemap_scan(Enabled::No)
        .linear_memory_keep_resident(KEEP_RESIDENT);
    let mut config = base_config();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_reservation(MAX_MEMORY)
        .memory_guard_size(0)
        .signals_based_traps(false)
        .memory_init_cow(true);
    config
}

/// Per-call allocation: plain heap-backed memories (explicit bounds
/// checks), which cost less per fresh store than a 4 GiB virtual
/// reservation with guard pages, as long as growth does not copy
/// (`GROWTH_ROOM`).
pub(super) fn on_demand_config() -> wasmtime::Config {
    let mut config = base_config();
    config
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(GROWTH_ROOM)
        .memory_init_cow(false);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_claim_past_the_pool_waits_for_a_slot() {
        let slots = Arc::new(Slots::default());
        let held: Vec<Slot<'_>> = (0..POOL_SLOTS).map(|_| slots.claim()).collect();
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (slots, done) = (Arc::clone(&slots), Arc::clone(&done));
            std::thread::spawn(move || {
                let _slot = slots.claim();
                done.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "claimed a slot past the pool");
        drop(held);
        waiter.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(*slots.running.lock().unwrap(), 0);
    }

    #[test]
    fn both_configs_build_an_engine() {
        wasmtime::Engine::new(&pooled_config()).unwrap();
        wasmtime::Engine::new(&on_demand_config()).unwrap();
    }
}
