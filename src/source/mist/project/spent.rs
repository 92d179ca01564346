//! Device values of sites already built, kept on the thread that built them: the next
//! site's records of the same projection have the same keys in the same order, so they are
//! written over these (keys, maps and string buffers kept) instead of allocated afresh and
//! freed after the rules ran, which was a tenth of an org-stats run.

use std::cell::RefCell;

use serde_json::Value;

thread_local! {
    static SPENT: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

/// At most this many spent device values are kept a thread: the largest usual site.
const MAX_SPENT: usize = 1024;

/// Keeps what is left of a built site's devices for the next records read on this thread.
pub fn keep_site_devices(site: Value) {
    let Value::Object(mut site) = site else {
        return;
    };
    let Some(Value::Array(devices)) = site.get_mut("devices").map(Value::take) else {
        return;
    };
    SPENT.with_borrow_mut(|spent| {
        let room = MAX_SPENT.saturating_sub(spent.len());
        spent.extend(devices.into_iter().take(room));
    });
}

/// A spent device value of this thread to write a record over, if any is left.
pub fn take() -> Option<Value> {
    SPENT.with_borrow_mut(Vec::pop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_site_s_devices_are_kept_up_to_the_bound_and_taken_back() {
        let device = json!({"name": "AP-1", "status": "connected"});
        keep_site_devices(json!({"name": "HQ", "devices": [device, device]}));
        keep_site_devices(json!({"name": "no devices"}));
        assert_eq!(take(), Some(device.clone()));
        assert_eq!(take(), Some(device.clone()));
        assert_eq!(take(), None);
        let many = vec![device.clone(); MAX_SPENT + 10];
        keep_site_devices(json!({"devices": many}));
        let mut taken = 0;
        while take().is_some() {
            taken += 1;
        }
        assert_eq!(taken, MAX_SPENT);
    }
}
