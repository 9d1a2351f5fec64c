//! A long-lived helper's memory after its start-up: what it touched to get going and will not
//! touch again is given back, so each detached container's supervisor costs little (issue 16:
//! its proportional set size against conmon's).

use std::fs;

/// Returns freed heap to the kernel and drops this process's mappings of the executable's
/// clean pages (its code and read-only data): they stay in the page cache, and the few the
/// process still runs fault back in when it runs them. Only pages that are the file's own
/// contents are dropped: writable mappings and the relocated read-only data (RELRO, written
/// by the loader, never at offset 0) keep theirs. Best effort: nothing here can fail the
/// caller.
pub fn shed_startup_pages() {
    // SAFETY: malloc_trim only returns free memory of the allocator to the kernel.
    unsafe { libc::malloc_trim(0) };
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return;
    };
    let Some(exe) = exe.to_str().map(str::to_string) else {
        return;
    };
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, end) in clean_exe_ranges(&maps, &exe) {
        // SAFETY: the range is a private, read-only or executable mapping of the executable
        // file holding the file's bytes unchanged; MADV_DONTNEED on it only unmaps pages that
        // the next access reads back from the same file.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The address ranges of `exe`'s mappings in a /proc/PID/maps text that hold the file's
/// unchanged bytes: `r-xp` (code) and `r--p` at offset 0 (headers, read-only data).
fn clean_exe_ranges(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            let path = f.nth(2)?;
            if path != exe {
                return None;
            }
            let clean =
                perms == "r-xp" || (perms == "r--p" && offset.trim_start_matches('0').is_empty());
            if !clean {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_unchanged_pages() {
        let maps = "\
5600a0000000-5600a0100000 r--p 00000000 fd:01 42   /usr/bin/g
5600a0100000-5600a0900000 r-xp 00100000 fd:01 42   /usr/bin/g
5600a0900000-5600a0960000 r--p 00900000 fd:01 42   /usr/bin/g
5600a0960000-5600a0970000 rw-p 00960000 fd:01 42   /usr/bin/g
7f0000000000-7f0000100000 r-xp 00028000 fd:01 7    /usr/lib/libc.so.6
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0    [stack]
";
        assert_eq!(
            clean_exe_ranges(maps, "/usr/bin/g"),
            vec![
                (0x5600a0000000, 0x5600a0100000),
                (0x5600a0100000, 0x5600a0900000)
            ]
        );
    }
}
