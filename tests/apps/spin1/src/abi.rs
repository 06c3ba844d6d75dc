//! What wit-bindgen 0.2 generates for a Spin 1 guest, written out by hand: the allocator the
//! host calls, the export, and the imports, with the canonical ABI's memory layouts (a list is
//! a (pointer, length) pair, a `tuple<string, string>` 16 bytes, an option or result a tag byte
//! and its payload at the payload's alignment).

use std::alloc::{alloc, dealloc, realloc, Layout};

pub struct Request {
    pub method: &'static str,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, text: String) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.into_bytes(),
        }
    }
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

#[unsafe(export_name = "canonical_abi_realloc")]
unsafe extern "C" fn canonical_abi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    unsafe {
        let layout = Layout::from_size_align_unchecked(new_len, align);
        let ptr = if old_len == 0 {
            alloc(layout)
        } else {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        };
        assert!(!ptr.is_null(), "out of memory");
        ptr
    }
}

#[unsafe(export_name = "canonical_abi_free")]
unsafe extern "C" fn canonical_abi_free(ptr: *mut u8, len: usize, align: usize) {
    if len != 0 {
        unsafe { dealloc(ptr, Layout::from_size_align_unchecked(len, align)) }
    }
}

/// Takes a list the host allocated with `canonical_abi_realloc`.
unsafe fn bytes(ptr: i32, len: i32) -> Vec<u8> {
    unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) }
}

unsafe fn string(ptr: i32, len: i32) -> String {
    String::from_utf8(unsafe { bytes(ptr, len) }).expect("the host passes UTF-8")
}

unsafe fn load_i32(addr: usize) -> i32 {
    unsafe { *(addr as *const i32) }
}

unsafe fn load_u8(addr: usize) -> u8 {
    unsafe { *(addr as *const u8) }
}

/// A `list<tuple<string, string>>` at (ptr, len).
unsafe fn pairs(ptr: i32, len: i32) -> Vec<(String, String)> {
    (0..len as usize)
        .map(|i| {
            let base = ptr as usize + i * 16;
            unsafe {
                (
                    string(load_i32(base), load_i32(base + 4)),
                    string(load_i32(base + 8), load_i32(base + 12)),
                )
            }
        })
        .collect()
}

/// A `list<tuple<string, string>>` laid out for the host; the strings must outlive the call.
fn lower_pairs(pairs: &[(String, String)]) -> Vec<[i32; 4]> {
    pairs
        .iter()
        .map(|(n, v)| {
            [
                n.as_ptr() as i32,
                n.len() as i32,
                v.as_ptr() as i32,
                v.len() as i32,
            ]
        })
        .collect()
}

#[repr(C, align(8))]
struct RetArea([u8; 32]);

static mut RET_AREA: RetArea = RetArea([0; 32]);

fn ret_area() -> usize {
    &raw mut RET_AREA as usize
}

#[unsafe(export_name = "handle-http-request")]
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn handle_http_request(
    method: i32,
    uri_ptr: i32,
    uri_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    _params_ptr: i32,
    _params_len: i32,
    body_tag: i32,
    body_ptr: i32,
    body_len: i32,
) -> i32 {
    let request = unsafe {
        Request {
            method: METHODS[method as usize],
            uri: string(uri_ptr, uri_len),
            headers: pairs(headers_ptr, headers_len),
            body: (body_tag != 0).then(|| bytes(body_ptr, body_len)),
        }
    };
    let response = super::handle(request);
    // The response lives until the host has read it: this instance serves one request.
    let response = Box::leak(Box::new(response));
    let headers = Box::leak(lower_pairs(&response.headers).into_boxed_slice());
    let area = ret_area();
    unsafe {
        *(area as *mut u16) = response.status;
        *((area + 4) as *mut u8) = 1;
        *((area + 8) as *mut i32) = headers.as_ptr() as i32;
        *((area + 12) as *mut i32) = headers.len() as i32;
        *((area + 16) as *mut u8) = 1;
        *((area + 20) as *mut i32) = response.body.as_ptr() as i32;
        *((area + 24) as *mut i32) = response.body.len() as i32;
    }
    area as i32
}

#[link(wasm_import_module = "spin-config")]
unsafe extern "C" {
    #[link_name = "get-config"]
    fn spin_config_get(key_ptr: i32, key_len: i32, ret: i32);
}

/// `spin-config.get-config`: the value, or the error's case and text.
pub fn get_config(key: &str) -> Result<String, String> {
    let area = ret_area();
    unsafe {
        spin_config_get(key.as_ptr() as i32, key.len() as i32, area as i32);
        if load_u8(area) == 0 {
            Ok(string(load_i32(area + 4), load_i32(area + 8)))
        } else {
            let case =
                ["provider", "invalid-key", "invalid-schema", "other"][load_u8(area + 4) as usize];
            Err(format!(
                "{case}: {}",
                string(load_i32(area + 8), load_i32(area + 12))
            ))
        }
    }
}

#[link(wasm_import_module = "wasi-outbound-http")]
unsafe extern "C" {
    #[link_name = "request"]
    fn outbound_http_request(
        method: i32,
        uri_ptr: i32,
        uri_len: i32,
        headers_ptr: i32,
        headers_len: i32,
        params_ptr: i32,
        params_len: i32,
        body_tag: i32,
        body_ptr: i32,
        body_len: i32,
        ret: i32,
    );
}

/// `wasi-outbound-http.request` of a GET with one header: status and body, or the
/// `http-error` case number.
pub fn send_get(url: &str) -> Result<(u16, Vec<u8>), u8> {
    let headers = vec![("x-from".to_string(), "spin1".to_string())];
    let lowered = lower_pairs(&headers);
    let area = ret_area();
    unsafe {
        outbound_http_request(
            0,
            url.as_ptr() as i32,
            url.len() as i32,
            lowered.as_ptr() as i32,
            lowered.len() as i32,
            0,
            0,
            0,
            0,
            0,
            area as i32,
        );
        if load_u8(area) != 0 {
            return Err(load_u8(area + 4));
        }
        let status = *((area + 4) as *const u16);
        let body = if load_u8(area + 20) != 0 {
            bytes(load_i32(area + 24), load_i32(area + 28))
        } else {
            Vec::new()
        };
        Ok((status, body))
    }
}

#[link(wasm_import_module = "key-value")]
unsafe extern "C" {
    #[link_name = "open"]
    fn kv_open(name_ptr: i32, name_len: i32, ret: i32);
    #[link_name = "get"]
    fn kv_get(store: i32, key_ptr: i32, key_len: i32, ret: i32);
    #[link_name = "set"]
    fn kv_set(store: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32, ret: i32);
    #[link_name = "close"]
    fn kv_close(store: i32);
}

const KV_ERRORS: [&str; 6] = [
    "store-table-full",
    "no-such-store",
    "access-denied",
    "invalid-store",
    "no-such-key",
    "io",
];

/// A `result<_, error>` of the key-value interface at the return area.
unsafe fn kv_error(area: usize) -> Option<&'static str> {
    unsafe { (load_u8(area) != 0).then(|| KV_ERRORS[load_u8(area + 4) as usize]) }
}

/// Counts a visit in the `default` store: a missing key (`no-such-key`) counts as 0.
pub fn count_visit() -> Result<u32, &'static str> {
    let area = ret_area();
    let key = "visits";
    unsafe {
        let name = "default";
        kv_open(name.as_ptr() as i32, name.len() as i32, area as i32);
        if let Some(e) = kv_error(area) {
            return Err(e);
        }
        let store = load_i32(area + 4);
        kv_get(store, key.as_ptr() as i32, key.len() as i32, area as i32);
        let visits = match kv_error(area) {
            None => {
                let value = string(load_i32(area + 4), load_i32(area + 8));
                value.parse::<u32>().map_err(|_| "not a number")? + 1
            }
            Some("no-such-key") => 1,
            Some(e) => return Err(e),
        };
        let value = visits.to_string();
        kv_set(
            store,
            key.as_ptr() as i32,
            key.len() as i32,
            value.as_ptr() as i32,
            value.len() as i32,
            area as i32,
        );
        if let Some(e) = kv_error(area) {
            return Err(e);
        }
        kv_close(store);
        Ok(visits)
    }
}

#[link(wasm_import_module = "outbound-redis")]
unsafe extern "C" {
    #[link_name = "incr"]
    fn redis_incr_raw(address_ptr: i32, address_len: i32, key_ptr: i32, key_len: i32, ret: i32);
}

/// `outbound-redis.incr`: the new value.
pub fn redis_incr(address: &str, key: &str) -> Result<i64, ()> {
    let area = ret_area();
    unsafe {
        redis_incr_raw(
            address.as_ptr() as i32,
            address.len() as i32,
            key.as_ptr() as i32,
            key.len() as i32,
            area as i32,
        );
        if load_u8(area) != 0 {
            return Err(());
        }
        Ok(*((area + 8) as *const i64))
    }
}

#[link(wasm_import_module = "sqlite")]
unsafe extern "C" {
    #[link_name = "open"]
    fn sqlite_open(name_ptr: i32, name_len: i32, ret: i32);
    #[link_name = "execute"]
    fn sqlite_execute(
        conn: i32,
        stmt_ptr: i32,
        stmt_len: i32,
        params_ptr: i32,
        params_len: i32,
        ret: i32,
    );
    #[link_name = "close"]
    fn sqlite_close(conn: i32);
}

/// A value of a `value`/`parameter-value` variant: 16 bytes, the tag then the payload at 8.
#[repr(C, align(8))]
struct Variant {
    tag: u8,
    payload: i64,
}

const SQLITE_ERRORS: [&str; 5] = [
    "no-such-database",
    "access-denied",
    "invalid-connection",
    "database-full",
    "io",
];

/// `SELECT ? + 1` with `n` in the `default` database.
pub fn sqlite_add_one(n: i64) -> Result<i64, &'static str> {
    let area = ret_area();
    let name = "default";
    let statement = "SELECT ? + 1";
    let params = [Variant { tag: 0, payload: n }];
    unsafe {
        sqlite_open(name.as_ptr() as i32, name.len() as i32, area as i32);
        if load_u8(area) != 0 {
            return Err(SQLITE_ERRORS[load_u8(area + 4) as usize]);
        }
        let conn = load_i32(area + 4);
        sqlite_execute(
            conn,
            statement.as_ptr() as i32,
            statement.len() as i32,
            params.as_ptr() as i32,
            1,
            area as i32,
        );
        if load_u8(area) != 0 {
            return Err(SQLITE_ERRORS[load_u8(area + 4) as usize]);
        }
        // query-result { columns: list<string>, rows: list<row-result { values }> }
        let (rows, row_count) = (load_i32(area + 12) as usize, load_i32(area + 16));
        if row_count != 1 {
            return Err("not one row");
        }
        let values = load_i32(rows) as usize;
        let value = &*(values as *const Variant);
        sqlite_close(conn);
        if value.tag != 0 {
            return Err("not an integer");
        }
        Ok(value.payload)
    }
}

#[link(wasm_import_module = "outbound-pg")]
unsafe extern "C" {
    #[link_name = "query"]
    fn pg_query(a_ptr: i32, a_len: i32, s_ptr: i32, s_len: i32, p_ptr: i32, p_len: i32, ret: i32);
}

#[link(wasm_import_module = "outbound-mysql")]
unsafe extern "C" {
    #[link_name = "query"]
    fn mysql_query(
        a_ptr: i32,
        a_len: i32,
        s_ptr: i32,
        s_len: i32,
        p_ptr: i32,
        p_len: i32,
        ret: i32,
    );
}

/// `query` of `outbound-pg` or `outbound-mysql` with one `int32` parameter: the first column's
/// name and the first value (an integer of any width, or text).
pub fn rdbms_query(
    which: &str,
    address: &str,
    statement: &str,
    n: i32,
) -> Result<(String, String), String> {
    let area = ret_area();
    let params = [Variant {
        tag: 3,
        payload: n.into(),
    }];
    let args = (
        address.as_ptr() as i32,
        address.len() as i32,
        statement.as_ptr() as i32,
        statement.len() as i32,
        params.as_ptr() as i32,
        1,
        area as i32,
    );
    unsafe {
        if which == "pg" {
            pg_query(args.0, args.1, args.2, args.3, args.4, args.5, args.6);
        } else {
            mysql_query(args.0, args.1, args.2, args.3, args.4, args.5, args.6);
        }
        if load_u8(area) != 0 {
            // pg-error / mysql-error: success, then five cases carrying text.
            let case = load_u8(area + 4);
            let text = if case == 0 {
                String::new()
            } else {
                string(load_i32(area + 8), load_i32(area + 12))
            };
            return Err(format!("case {case}: {text}"));
        }
        // row-set { columns: list<column { name, data-type }>, rows: list<list<db-value>> }
        let (columns, rows, row_count) = (
            load_i32(area + 4) as usize,
            load_i32(area + 12) as usize,
            load_i32(area + 16),
        );
        let column = string(load_i32(columns), load_i32(columns + 4));
        if row_count != 1 {
            return Err(format!("{row_count} rows"));
        }
        let value = &*(load_i32(rows) as usize as *const Variant);
        let at = value as *const Variant as usize + 8;
        let text = match value.tag {
            3 => load_i32(at).to_string(),
            4 => value.payload.to_string(),
            8 => (value.payload as u64).to_string(),
            11 => string(load_i32(at), load_i32(at + 4)),
            tag => format!("db-value case {tag}"),
        };
        Ok((column, text))
    }
}

#[link(wasm_import_module = "llm")]
unsafe extern "C" {
    #[link_name = "infer"]
    fn llm_infer_raw(
        model_ptr: i32,
        model_len: i32,
        prompt_ptr: i32,
        prompt_len: i32,
        params_tag: i32,
        max_tokens: i32,
        repeat_penalty: f32,
        repeat_penalty_last_n: i32,
        temperature: f32,
        top_k: i32,
        top_p: f32,
        ret: i32,
    );
}

/// `llm.infer` without parameters: the text, or the error's case and text.
pub fn llm_infer(model: &str, prompt: &str) -> Result<String, String> {
    let area = ret_area();
    unsafe {
        llm_infer_raw(
            model.as_ptr() as i32,
            model.len() as i32,
            prompt.as_ptr() as i32,
            prompt.len() as i32,
            0,
            0,
            0.0,
            0,
            0.0,
            0,
            0.0,
            area as i32,
        );
        if load_u8(area) == 0 {
            return Ok(string(load_i32(area + 4), load_i32(area + 8)));
        }
        let case =
            ["model-not-supported", "runtime-error", "invalid-input"][load_u8(area + 4) as usize];
        let text = if case == "model-not-supported" {
            String::new()
        } else {
            string(load_i32(area + 8), load_i32(area + 12))
        };
        Err(format!("{case}: {text}"))
    }
}
