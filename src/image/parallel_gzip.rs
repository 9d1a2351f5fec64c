//! A gzip writer that compresses on several threads, as pigz does, so a push is not held to
//! one core's deflate speed (which was most of a 50 MB layer's push).
//!
//! The input is cut into fixed 1 MiB blocks; each is deflated on its own (no dictionary from
//! the block before, which costs ~0.1% on real layers) and ended with a sync flush, so the
//! pieces concatenate into one deflate stream; an empty final block ends it. The CRC-32 of
//! each block is combined in order. The result is one ordinary gzip member (single-member
//! readers get all of it), and it depends only on the bytes and the level, never on the number
//! of threads or their timing: the same layer always gives the same blob.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

const BLOCK: usize = 1 << 20;

type Done = io::Result<(Vec<u8>, Crc)>;
type Job = (Vec<u8>, SyncSender<Done>);

/// Gzip-compresses what is written to it into `W`, on `threads` threads.
pub struct ParallelGzip<W: Write> {
    /// Taken by `finish`.
    inner: Option<W>,
    block: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Blocks sent to the workers, oldest first: their output is written in this order.
    pending: VecDeque<Receiver<Done>>,
    max_pending: usize,
    crc: Crc,
    size: u64,
}

impl<W: Write> ParallelGzip<W> {
    /// Writes the gzip header and starts the workers.
    pub fn new(mut inner: W, level: u32, threads: usize) -> io::Result<ParallelGzip<W>> {
        let threads = threads.clamp(1, 16);
        // No name, no mtime; XFL 4 (fastest) or 2 (best) or 0, OS 255 (unknown).
        let xfl = match level {
            1 => 4,
            9 => 2,
            _ => 0,
        };
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        let level = Compression::new(level.min(9));
        // Room for two blocks a worker, so none waits for the writer.
        let (tx, rx) = mpsc::sync_channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gocker-gzip-{i}"))
                .spawn(move || worker(&rx, level));
            match spawned {
                Ok(h) => workers.push(h),
                // Fewer threads are still correct; none at all is not.
                Err(e) if workers.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(ParallelGzip {
            inner: Some(inner),
            block: Vec::with_capacity(BLOCK),
            max_pending: workers.len() * 2,
            jobs: Some(tx),
            workers,
            pending: VecDeque::new(),
            crc: Crc::new(),
            size: 0,
        })
    }

    fn dispatch(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let (tx, rx) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send((data, tx)).map_err(|_| gone())?;
        self.pending.push_back(rx);
        while self.pending.len() > self.max_pending {
            self.collect_one()?;
        }
        Ok(())
    }

    /// Writes out the oldest block's output once it is ready.
    fn collect_one(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let (out, crc) = rx.recv().map_err(|_| gone())??;
        self.crc.combine(&crc);
        self.inner.as_mut().ok_or_else(gone)?.write_all(&out)
    }

    /// Compresses what is left, writes the end of the stream and the trailer, stops the
    /// workers and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch()?;
        while !self.pending.is_empty() {
            self.collect_one()?;
        }
        let mut inner = self.inner.take().ok_or_else(gone)?;
        // An empty final block with fixed codes: BFINAL 1, BTYPE 01, end-of-block.
        inner.write_all(&[0x03, 0x00])?;
        inner.write_all(&self.crc.sum().to_le_bytes())?;
        // ISIZE is the length modulo 2^32.
        inner.write_all(&(self.size as u32).to_le_bytes())?;
        self.stop();
        Ok(inner)
    }

    fn stop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&data[..n]);
        self.size += n as u64;
        if self.block.len() == BLOCK {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ParallelGzip<W> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn gone() -> io::Error {
    io::Error::other("a gzip worker stopped")
}

fn worker(jobs: &Mutex<Receiver<Job>>, level: Compression) {
    let mut c = Compress::new(level, false);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((data, reply)) = job else {
            return;
        };
        c.reset();
        let mut crc = Crc::new();
        crc.update(&data);
        let done = deflate_block(&mut c, &data).map(|out| (out, crc));
        let _ = reply.send(done);
    }
}

/// Deflates one block, ending it with a sync flush (byte-aligned, not final).
fn deflate_block(c: &mut Compress, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(data.len() / 2 + 64);
    let start = c.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let used = (c.total_in() - start) as usize;
        let status = c
            .compress_vec(&data[used..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let consumed = (c.total_in() - start) as usize == data.len();
        // The flush is complete when all input is in and the output was not filled.
        if consumed && out.len() < out.capacity() {
            return Ok(out);
        }
        if status == Status::StreamEnd {
            return Err(io::Error::other("deflate ended a stream early"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParallelGzip::new(Vec::new(), 1, threads).unwrap();
        // Odd write sizes, so blocks are cut inside writes.
        for piece in data.chunks(77_777) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Half text-like, half noise.
                if (i / 4096) % 2 == 0 {
                    b"layer of text "[i % 14]
                } else {
                    (x >> 32) as u8
                }
            })
            .collect()
    }

    #[test]
    fn one_member_that_any_reader_reads_whole_and_the_same_for_any_thread_count() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12_345] {
            let data = sample(len);
            let one = gzip(&data, 1);
            assert_eq!(one, gzip(&data, 4), "deterministic at {len}");
            // A single-member reader checks the CRC and the size at the end.
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "round trip at {len}");
            if len > BLOCK {
                assert!(one.len() < data.len() * 3 / 4, "it compresses");
            }
        }
    }

    #[test]
    fn dropped_unfinished_it_stops_its_threads() {
        let mut w = ParallelGzip::new(Vec::new(), 1, 3).unwrap();
        w.write_all(&sample(5 * BLOCK)).unwrap();
        drop(w);
    }
}
