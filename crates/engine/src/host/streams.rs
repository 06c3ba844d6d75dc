//! What Spin's async interfaces (spin-sdk 7) return as `stream<T>` plus `future<result<_, E>>`
//! (rows of a query, keys of a store): the host has every item at hand when it answers, so
//! the stream hands them over as the guest reads, and the future is already resolved.

use wasmtime::AsContextMut;
use wasmtime::component::{FutureReader, Lift, Lower, StreamReader};

/// A stream of items and the future that tells whether it holds them all.
pub(crate) type ItemsAndResult<T, E> = (StreamReader<T>, FutureReader<Result<(), E>>);

/// `items` as a stream, and a future resolved to `Ok(())`.
pub(crate) fn rows_and_done<S, T, E>(
    store: S,
    items: Vec<T>,
) -> wasmtime::Result<ItemsAndResult<T, E>>
where
    S: AsContextMut,
    T: Lower + Lift + Unpin + Send + Sync + 'static,
    E: Lower + Lift + Send + Sync + 'static,
{
    items_then(store, items, Ok(()))
}

/// `items` as a stream, and a future resolved to `result`.
pub(crate) fn items_then<S, T, E>(
    mut store: S,
    items: Vec<T>,
    result: Result<(), E>,
) -> wasmtime::Result<ItemsAndResult<T, E>>
where
    S: AsContextMut,
    T: Lower + Lift + Unpin + Send + Sync + 'static,
    E: Lower + Lift + Send + Sync + 'static,
{
    let stream = StreamReader::new(&mut store, items)?;
    let done = FutureReader::new(
        &mut store,
        std::future::ready(Ok::<_, wasmtime::Error>(result)),
    )?;
    Ok((stream, done))
}
