//! The measurements that load a PKCS#11 module. Each runs in a child process of `tsb-bench`
//! (`tsb-bench __child <scenario> <json>`): a module's PKCS#11 state (and the config it read at
//! C_Initialize) lives as long as the process, and the memory measurement needs a process that
//! holds only the module, not the emulator. The child prints one `TSB_BENCH_RESULT {json}` line.

use crate::checker::Checker;
use crate::util::{ctx, direct_sign, http_client, vm_rss_kib, Res, XorShift};
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use serde_json::{json, Value};
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

/// Marker of the result line on the child's stdout.
pub const RESULT_MARK: &str = "TSB_BENCH_RESULT ";

/// Run scenario `name` with parameters `p` and print its result line.
pub fn run(name: &str, p: &Value) -> Res<()> {
    let out = match name {
        "throughput" => throughput(p)?,
        "approval" => approval(p)?,
        "cold" => cold(p)?,
        "find" => find(p)?,
        "list" => list(p)?,
        "parallel" => parallel(p)?,
        "memory" => memory(p)?,
        "verify" => verify(p)?,
        other => return Err(format!("unknown scenario {other}")),
    };
    println!("{RESULT_MARK}{out}");
    Ok(())
}

fn s<'a>(p: &'a Value, k: &str) -> Res<&'a str> {
    p[k].as_str()
        .ok_or_else(|| format!("parameter {k} missing"))
}

fn n(p: &Value, k: &str) -> Res<u64> {
    p[k].as_u64()
        .ok_or_else(|| format!("parameter {k} missing"))
}

/// Load and initialize the module; the first slot with a token (the config has one).
fn open(module: &str) -> Res<(Pkcs11, Slot)> {
    let pk = ctx(Pkcs11::new(module), "load module")?;
    ctx(pk.initialize(CInitializeArgs::OsThreads), "C_Initialize")?;
    let slot = *ctx(pk.get_slots_with_token(), "C_GetSlotList")?
        .first()
        .ok_or("no slot with a token")?;
    Ok((pk, slot))
}

fn find_private_key(s: &Session, label: &str) -> Res<ObjectHandle> {
    let found = ctx(
        s.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ]),
        "C_FindObjects",
    )?;
    found
        .first()
        .copied()
        .ok_or_else(|| format!("no private key labelled {label}"))
}

/// CPU time (user + system, all threads) of this process so far: the client's own cost, which
/// unlike wall time does not depend on what else the machine is running.
fn cpu_seconds() -> f64 {
    let u = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Voluntary context switches of this process so far (a thread blocking: each hand-off between
/// the caller's thread and the HTTP client's runtime thread, each wait for the server).
fn switches() -> i64 {
    rusage().ru_nvcsw
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u
}

fn sha256(d: &[u8]) -> Vec<u8> {
    openssl::sha::sha256(d).to_vec()
}

/// (1) C_Sign through the module against the same synchronousSign requests sent directly, in
/// rounds that rotate between the clients so that machine noise (other builds on the same cores)
/// hits them alike. With `direct_verify`, a third client: the direct one that also checks each
/// signature as the module does ([`Checker`], the public key fetched once before the rounds).
fn throughput(p: &Value) -> Res<Value> {
    let url = s(p, "url")?;
    let (pk, slot) = open(s(p, "module")?)?;
    let session = ctx(pk.open_rw_session(slot), "C_OpenSession")?;
    let http = http_client()?;
    let sign_url = format!("{url}/v1/synchronousSign");
    let per_round = n(p, "per_round")?;
    let rounds = n(p, "rounds")?;
    let warmup = n(p, "warmup")?;
    let direct_verify = p["direct_verify"].as_bool().unwrap_or(false);
    let data = b"tsb-bench throughput payload, 32B".to_vec();
    let mut out = serde_json::Map::new();
    for (name, label, mech, alg) in [
        (
            "rsa",
            "bench-rsa",
            Mechanism::Sha256RsaPkcs,
            "NONESHA256_WITH_RSA",
        ),
        ("ec", "bench-ec", Mechanism::Ecdsa, "NONE_WITH_ECDSA"),
    ] {
        if p["only"].as_str().is_some_and(|o| o != name) {
            continue;
        }
        let key = find_private_key(&session, label)?;
        // What the module sends for this mechanism: CKM_SHA256_RSA_PKCS hashes locally and sends
        // the digest; CKM_ECDSA takes the input as the digest.
        let payload = sha256(&data);
        let module_input = if name == "rsa" {
            data.clone()
        } else {
            payload.clone()
        };
        // The key as the module holds it: fetched and parsed once, outside the timed rounds.
        let checker = if direct_verify {
            Some(Checker::fetch(&http, url, label)?)
        } else {
            None
        };
        // Side 0: the module; 1: the direct client; 2: the direct client that verifies.
        let sides = if checker.is_some() { 3 } else { 2 };
        let sign = |side: usize| -> Res<()> {
            match (side, &checker) {
                (0, _) => ctx(session.sign(&mech, key, &module_input), "C_Sign").map(drop),
                (1, _) => direct_sign(&http, &sign_url, label, alg, &payload).map(drop),
                (_, Some(c)) => c.check(
                    &payload,
                    &direct_sign(&http, &sign_url, label, alg, &payload)?,
                ),
                (_, None) => Err("no key to verify with".into()),
            }
        };
        for _ in 0..warmup {
            for side in 0..sides {
                sign(side)?;
            }
        }
        // Per side: per-round wall times (the parent compares medians, which a burst of load
        // from other processes during one round does not move) and per-round CPU (the parent
        // takes the median of the differences of the rounds of one rotation; the totals are
        // reported beside it), and the context switches in total.
        let mut wall = vec![Vec::new(); sides];
        let mut cpu_rounds = vec![Vec::new(); sides];
        let mut csw = vec![0i64; sides];
        for r in 0..rounds {
            // Rotate which side goes first, so none always follows another (warm caches, a
            // connection that just went idle); with two sides, they alternate.
            for i in 0..sides {
                let side = (i + r as usize) % sides;
                let (t, c, w) = (Instant::now(), cpu_seconds(), switches());
                for _ in 0..per_round {
                    sign(side)?;
                }
                wall[side].push(t.elapsed().as_secs_f64());
                cpu_rounds[side].push(cpu_seconds() - c);
                csw[side] += switches() - w;
            }
        }
        let total = |v: &Vec<f64>| v.iter().sum::<f64>();
        let mut o = json!({"ops": per_round * rounds, "per_round": per_round,
               "module_rounds_s": wall[0], "direct_rounds_s": wall[1],
               "module_cpu_s": total(&cpu_rounds[0]), "direct_cpu_s": total(&cpu_rounds[1]),
               "module_cpu_rounds_s": cpu_rounds[0], "direct_cpu_rounds_s": cpu_rounds[1],
               "module_switches": csw[0], "direct_switches": csw[1]});
        if sides == 3 {
            o["verifying_rounds_s"] = json!(wall[2]);
            o["verifying_cpu_s"] = json!(total(&cpu_rounds[2]));
            o["verifying_cpu_rounds_s"] = json!(cpu_rounds[2]);
            o["verifying_switches"] = json!(csw[2]);
        }
        out.insert(name.into(), o);
    }
    Ok(Value::Object(out))
}

/// (2) Approval-gated signs: an approver thread (tsb_approve::Approver, in this process) waits
/// for the task, waits a random 0-400 ms (so the approval falls at a random phase of the module's
/// poll schedule), approves, and records the instant its `POST /v1/approval` returned 200; the
/// emulator executes the request before it answers, so that is when the signature is ready.
/// The signing thread records when C_Sign returned. Delay = return - approval.
fn approval(p: &Value) -> Res<Value> {
    let url = s(p, "url")?.to_string();
    let label = s(p, "label")?;
    let ops = n(p, "ops")?;
    let key_pem = s(p, "approver_pem")?;
    let approver_key = ctx(
        tsb_approve::ApproverKey::from_pem_file(key_pem),
        "approver key",
    )?;
    let approver = tsb_approve::Approver::new(&url, approver_key);
    let (pk, slot) = open(s(p, "module")?)?;
    let session = ctx(pk.open_rw_session(slot), "C_OpenSession")?;
    let key = find_private_key(&session, label)?;
    let (tx, rx) = mpsc::channel::<Res<Instant>>();
    let worker = std::thread::spawn(move || {
        let mut rng = XorShift::from_time();
        for _ in 0..ops {
            let deadline = Instant::now() + Duration::from_secs(30);
            let task = loop {
                match approver.tasks(&Default::default()) {
                    Ok(mut t) if !t.is_empty() => break t.swap_remove(0),
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(format!("list tasks: {e}")));
                        return;
                    }
                }
                if Instant::now() > deadline {
                    let _ = tx.send(Err("no approval task within 30 s".into()));
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            std::thread::sleep(Duration::from_millis(rng.next_u64() % 400));
            let r = approver
                .approve(&task)
                .map(|()| Instant::now())
                .map_err(|e| format!("approve: {e}"));
            let failed = r.is_err();
            let _ = tx.send(r);
            if failed {
                return;
            }
        }
    });
    let mut delays_ms = Vec::new();
    let mut sign_s = 0f64;
    for i in 0..ops {
        let digest = sha256(format!("approval op {i}").as_bytes());
        let t0 = Instant::now();
        ctx(session.sign(&Mechanism::Ecdsa, key, &digest), "C_Sign")?;
        let t1 = Instant::now();
        sign_s += (t1 - t0).as_secs_f64();
        let approved = ctx(rx.recv_timeout(Duration::from_secs(60)), "approver thread")??;
        // Signed: a poll that lands between the emulator's execution and the approver reading
        // its 200 can make this a hair negative.
        let d = if t1 >= approved {
            (t1 - approved).as_secs_f64()
        } else {
            -(approved - t1).as_secs_f64()
        };
        delays_ms.push(d * 1000.0);
    }
    let _ = worker.join();
    Ok(json!({"delays_ms": delays_ms, "sign_s": sign_s, "ops": ops}))
}

/// (3) Cold start with raw dlopen/dlsym (what OpenSSL and pkcs11-tool do), for any module.
fn cold(p: &Value) -> Res<Value> {
    let module = s(p, "module")?;
    let iters = n(p, "iters")?;
    let mut times = Vec::new();
    let mut resident = 0;
    for _ in 0..iters {
        let t = Instant::now();
        cold_once(module)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if still_loaded(module) {
            resident += 1;
        }
    }
    Ok(json!({"times_ms": times, "stayed_loaded": resident}))
}

/// Whether dlclose left the library mapped (glibc keeps a library that registered thread-local
/// destructors, or was made NODELETE): then the next dlopen is warm, and only the first
/// iteration shows the load and relocation cost.
fn still_loaded(module: &str) -> bool {
    let Ok(path) = std::ffi::CString::new(module) else {
        return false;
    };
    // SAFETY: RTLD_NOLOAD only looks the library up; a handle it returns is closed at once.
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if h.is_null() {
            false
        } else {
            libc::dlclose(h);
            true
        }
    }
}

fn ck(rv: cryptoki_sys::CK_RV, what: &str) -> Res<()> {
    if rv == cryptoki_sys::CKR_OK {
        Ok(())
    } else {
        Err(format!("{what} returned 0x{rv:x}"))
    }
}

fn cold_once(module: &str) -> Res<()> {
    use cryptoki_sys::*;
    let path = ctx(std::ffi::CString::new(module), "module path")?;
    // SAFETY: plain libdl calls; the function pointers come from the module's own function list
    // and are called with valid arguments; the handle is closed only after C_Finalize.
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if h.is_null() {
            return Err(format!("dlopen {module} failed"));
        }
        let sym = libc::dlsym(h, c"C_GetFunctionList".as_ptr());
        if sym.is_null() {
            libc::dlclose(h);
            return Err("no C_GetFunctionList".into());
        }
        let gfl: unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV = std::mem::transmute(sym);
        let mut fl: CK_FUNCTION_LIST_PTR = std::ptr::null_mut();
        ck(gfl(&mut fl), "C_GetFunctionList")?;
        let f = &*fl;
        let mut args: CK_C_INITIALIZE_ARGS = std::mem::zeroed();
        args.flags = CKF_OS_LOCKING_OK;
        let init = f.C_Initialize.ok_or("no C_Initialize")?;
        ck(init(&mut args as *mut _ as CK_VOID_PTR), "C_Initialize")?;
        let list = f.C_GetSlotList.ok_or("no C_GetSlotList")?;
        let mut count: CK_ULONG = 0;
        ck(
            list(CK_TRUE, std::ptr::null_mut(), &mut count),
            "C_GetSlotList",
        )?;
        let mut slots = vec![0 as CK_SLOT_ID; count as usize];
        ck(
            list(CK_TRUE, slots.as_mut_ptr(), &mut count),
            "C_GetSlotList",
        )?;
        let slot = *slots.first().ok_or("no slot")?;
        let mut ti: CK_TOKEN_INFO = std::mem::zeroed();
        ck(
            f.C_GetTokenInfo.ok_or("no C_GetTokenInfo")?(slot, &mut ti),
            "C_GetTokenInfo",
        )?;
        let mut hs: CK_SESSION_HANDLE = 0;
        ck(
            f.C_OpenSession.ok_or("no C_OpenSession")?(
                slot,
                CKF_SERIAL_SESSION,
                std::ptr::null_mut(),
                None,
                &mut hs,
            ),
            "C_OpenSession",
        )?;
        ck(
            f.C_Finalize.ok_or("no C_Finalize")?(std::ptr::null_mut()),
            "C_Finalize",
        )?;
        libc::dlclose(h);
    }
    Ok(())
}

/// (4) One find by label (private key class), in a fresh module: cold object cache.
fn find(p: &Value) -> Res<Value> {
    let (pk, slot) = open(s(p, "module")?)?;
    let session = ctx(pk.open_ro_session(slot), "C_OpenSession")?;
    let label = s(p, "label")?;
    let t = Instant::now();
    let found = ctx(
        session.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ]),
        "C_FindObjects",
    )?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(json!({"ms": ms, "found": found.len()}))
}

/// (9) A listing as a program that enumerates keys does it: a find of every private key (class
/// only), then CKA_LABEL, CKA_ID and CKA_KEY_TYPE of each; timed from C_FindObjectsInit to the
/// last attribute read, in a fresh process (a cold cache).
fn list(p: &Value) -> Res<Value> {
    let (pk, slot) = open(s(p, "module")?)?;
    let session = ctx(pk.open_ro_session(slot), "C_OpenSession")?;
    let t = Instant::now();
    let found = ctx(
        session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]),
        "C_FindObjects",
    )?;
    let find_ms = t.elapsed().as_secs_f64() * 1e3;
    let want = [
        AttributeType::Label,
        AttributeType::Id,
        AttributeType::KeyType,
    ];
    for h in &found {
        let got = ctx(session.get_attributes(*h, &want), "C_GetAttributeValue")?;
        if got.len() != want.len() {
            return Err(format!("object {h}: {} of 3 attributes", got.len()));
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(json!({"ms": ms, "find_ms": find_ms, "found": found.len()}))
}

/// (5) 1, 4, 16 threads, each with its own session, signing for a fixed time. The emulator
/// delays every synchronousSign by 20 ms (injected by the parent), as a remote TSB would.
fn parallel(p: &Value) -> Res<Value> {
    let (pk, slot) = open(s(p, "module")?)?;
    let label = s(p, "label")?;
    let secs = p["secs"].as_f64().ok_or("secs missing")?;
    let key = {
        let s0 = ctx(pk.open_ro_session(slot), "C_OpenSession")?;
        find_private_key(&s0, label)?
    };
    let digest = sha256(b"parallel");
    let mut out = Vec::new();
    for t in p["threads"].as_array().ok_or("threads missing")? {
        let threads = t.as_u64().ok_or("threads")? as usize;
        let barrier = Barrier::new(threads);
        let results: Vec<Res<(u64, f64)>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (pk, barrier, digest) = (&pk, &barrier, &digest);
                    sc.spawn(move || -> Res<(u64, f64)> {
                        let session = ctx(pk.open_rw_session(slot), "C_OpenSession");
                        // Everyone reaches the barrier, even on error, so no thread waits forever.
                        let warm = session.as_ref().map_err(|e| e.clone()).and_then(|s| {
                            ctx(s.sign(&Mechanism::Ecdsa, key, digest), "warm-up C_Sign")
                        });
                        barrier.wait();
                        let session = session?;
                        warm?;
                        let start = Instant::now();
                        let end = start + Duration::from_secs_f64(secs);
                        let mut ops = 0u64;
                        // Bounded by time and, for safety, by a count no run can reach.
                        while Instant::now() < end && ops < 10_000_000 {
                            ctx(session.sign(&Mechanism::Ecdsa, key, digest), "C_Sign")?;
                            ops += 1;
                        }
                        Ok((ops, start.elapsed().as_secs_f64()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
                .collect()
        });
        let mut ops = 0;
        let mut wall = 0f64;
        for r in results {
            let (o, w) = r?;
            ops += o;
            wall = wall.max(w);
        }
        out.push(json!({"threads": threads, "ops": ops, "secs": wall}));
    }
    Ok(Value::Array(out))
}

/// (7) VmRSS of this process (module + cryptoki, no emulator) at sign-count checkpoints.
fn memory(p: &Value) -> Res<Value> {
    let (pk, slot) = open(s(p, "module")?)?;
    let session = ctx(pk.open_rw_session(slot), "C_OpenSession")?;
    let key = find_private_key(&session, s(p, "label")?)?;
    let digest = sha256(b"memory");
    let mut done = 0u64;
    let mut points = Vec::new();
    for c in p["checkpoints"].as_array().ok_or("checkpoints missing")? {
        let c = c.as_u64().ok_or("checkpoint")?;
        while done < c {
            ctx(session.sign(&Mechanism::Ecdsa, key, &digest), "C_Sign")?;
            done += 1;
        }
        points.push(json!({"signs": done, "rss_kib": vm_rss_kib()?}));
    }
    Ok(Value::Array(points))
}

/// (8) The cost of verifying the TSB's signatures. The config has two slots on the same TSB:
/// slot 0 verifies (the default), slot 1 has `verify_signatures: false`. C_Sign runs in rounds
/// alternating between them; then C_Verify (the same check, alone) is timed on one signature.
fn verify(p: &Value) -> Res<Value> {
    let pk = ctx(Pkcs11::new(s(p, "module")?), "load module")?;
    ctx(pk.initialize(CInitializeArgs::OsThreads), "C_Initialize")?;
    let slots = ctx(pk.get_slots_with_token(), "C_GetSlotList")?;
    if slots.len() != 2 {
        return Err(format!("expected 2 slots, found {}", slots.len()));
    }
    let (label, mech, data) = match s(p, "only")? {
        "rsa" => (
            "bench-rsa",
            Mechanism::Sha256RsaPkcs,
            b"tsb-bench verify".to_vec(),
        ),
        _ => ("bench-ec", Mechanism::Ecdsa, sha256(b"tsb-bench verify")),
    };
    let on = ctx(pk.open_rw_session(slots[0]), "C_OpenSession")?;
    let off = ctx(pk.open_rw_session(slots[1]), "C_OpenSession")?;
    let keys = [
        find_private_key(&on, label)?,
        find_private_key(&off, label)?,
    ];
    let sessions = [&on, &off];
    let (per_round, rounds) = (n(p, "per_round")?, n(p, "rounds")?);
    for (s, k) in sessions.iter().zip(keys) {
        for _ in 0..n(p, "warmup")? {
            ctx(s.sign(&mech, k, &data), "C_Sign")?;
        }
    }
    let mut wall = [vec![], vec![]];
    let mut cpu = [0f64, 0f64];
    for r in 0..rounds {
        for side in if r % 2 == 0 { [0, 1] } else { [1, 0] } {
            let (t, c) = (Instant::now(), cpu_seconds());
            for _ in 0..per_round {
                ctx(sessions[side].sign(&mech, keys[side], &data), "C_Sign")?;
            }
            wall[side].push(t.elapsed().as_secs_f64());
            cpu[side] += cpu_seconds() - c;
        }
    }
    // The check alone: C_Verify of one TSB signature with the public key, no network.
    let sig = ctx(on.sign(&mech, keys[0], &data), "C_Sign")?;
    let public = ctx(
        on.find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ]),
        "C_FindObjects",
    )?
    .first()
    .copied()
    .ok_or("no public key")?;
    let iters = n(p, "iters")?;
    let t = Instant::now();
    for _ in 0..iters {
        ctx(on.verify(&mech, public, &data, &sig), "C_Verify")?;
    }
    let verify_s = t.elapsed().as_secs_f64();
    Ok(
        json!({"ops": per_round * rounds, "on_rounds_s": wall[0], "off_rounds_s": wall[1],
              "on_cpu_s": cpu[0], "off_cpu_s": cpu[1], "verify_s": verify_s, "iters": iters}),
    )
}
