//! What the kernel says of this process's memory (`/proc/self/maps`).

/// The permissions (`r--s`, `rw-s`, ...) of the one mapping of this process
/// that holds all of `bytes`; panics if no single mapping does.
pub fn permissions_of(bytes: &[u8]) -> String {
    let first = bytes.as_ptr() as usize;
    let last = first + bytes.len().max(1) - 1;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start <= first && last < end).then(|| perms.to_string())
        })
        .unwrap_or_else(|| panic!("no single mapping holds {first:#x}..={last:#x}"))
}
