//! `wasi:io` poll and streams of the release candidate: the same calls as in 0.2 under other
//! names (`poll-list` is `poll`, `poll-one` is `pollable.block`, the error resource lives in
//! `streams`), plus `output-stream.forward`, which 0.2 dropped.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::{error as p2_error, poll as p2_poll, streams as p2_streams};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError, StreamError};

use super::bindings::wasi::io0_2_0_rc_2023_10_18::{poll, streams};

type StreamResult<T> = Result<T, StreamError>;

impl poll::Host for ResourceTable {
    async fn poll_list(
        &mut self,
        pollables: Vec<Resource<DynPollable>>,
    ) -> wasmtime::Result<Vec<u32>> {
        p2_poll::Host::poll(self, pollables).await
    }

    async fn poll_one(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        p2_poll::HostPollable::block(self, pollable).await
    }
}

impl poll::HostPollable for ResourceTable {
    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        p2_poll::HostPollable::drop(self, pollable)
    }
}

impl streams::Host for ResourceTable {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        Ok(match p2_streams::Host::convert_stream_error(self, err)? {
            p2_streams::StreamError::Closed => streams::StreamError::Closed,
            p2_streams::StreamError::LastOperationFailed(e) => {
                streams::StreamError::LastOperationFailed(e)
            }
        })
    }
}

impl streams::HostError for ResourceTable {
    fn to_debug_string(&mut self, err: Resource<IoError>) -> wasmtime::Result<String> {
        p2_error::HostError::to_debug_string(self, err)
    }

    fn drop(&mut self, err: Resource<IoError>) -> wasmtime::Result<()> {
        p2_error::HostError::drop(self, err)
    }
}

impl streams::HostInputStream for ResourceTable {
    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        p2_streams::HostInputStream::read(self, stream, len)
    }

    async fn blocking_read(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        p2_streams::HostInputStream::blocking_read(self, stream, len).await
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        p2_streams::HostInputStream::skip(self, stream, len)
    }

    async fn blocking_skip(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        p2_streams::HostInputStream::blocking_skip(self, stream, len).await
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        p2_streams::HostInputStream::subscribe(self, stream)
    }

    async fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        p2_streams::HostInputStream::drop(self, stream).await
    }
}

impl streams::HostOutputStream for ResourceTable {
    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        p2_streams::HostOutputStream::check_write(self, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, contents: Vec<u8>) -> StreamResult<()> {
        p2_streams::HostOutputStream::write(self, stream, contents)
    }

    async fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        contents: Vec<u8>,
    ) -> StreamResult<()> {
        p2_streams::HostOutputStream::blocking_write_and_flush(self, stream, contents).await
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        p2_streams::HostOutputStream::flush(self, stream)
    }

    async fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        p2_streams::HostOutputStream::blocking_flush(self, stream).await
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        p2_streams::HostOutputStream::subscribe(self, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        p2_streams::HostOutputStream::write_zeroes(self, stream, len)
    }

    async fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        p2_streams::HostOutputStream::blocking_write_zeroes_and_flush(self, stream, len).await
    }

    fn splice(
        &mut self,
        stream: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        p2_streams::HostOutputStream::splice(self, stream, src, len)
    }

    async fn blocking_splice(
        &mut self,
        stream: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        p2_streams::HostOutputStream::blocking_splice(self, stream, src, len).await
    }

    /// Everything `src` has until it closes, in blocking splices (the release candidate's
    /// definition of `forward`).
    async fn forward(
        &mut self,
        stream: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
    ) -> StreamResult<u64> {
        const CHUNK: u64 = 64 * 1024;
        let mut total = 0u64;
        loop {
            let dst = Resource::new_borrow(stream.rep());
            let from = Resource::new_borrow(src.rep());
            match p2_streams::HostOutputStream::blocking_splice(self, dst, from, CHUNK).await {
                Ok(n) => total += n,
                Err(StreamError::Closed) => return Ok(total),
                Err(e) => return Err(e),
            }
        }
    }

    async fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        p2_streams::HostOutputStream::drop(self, stream).await
    }
}
