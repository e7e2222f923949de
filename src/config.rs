//! TEMPORARY minimal configuration until the full redis.conf implementation lands.
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

pub struct ConfigStore {
    values: RwLock<Vec<(String, String)>>,
    active_expire: AtomicBool,
}

impl ConfigStore {
    pub fn from_args(args: Vec<String>) -> Result<ConfigStore, String> {
        let mut values: Vec<(String, String)> = vec![
            ("port".into(), "6379".into()),
            ("bind".into(), "127.0.0.1".into()),
            ("threads".into(), num_cpus().to_string()),
            ("databases".into(), "16".into()),
            ("hz".into(), "10".into()),
            ("requirepass".into(), "".into()),
            ("dir".into(), ".".into()),
            ("maxclients".into(), "10000".into()),
        ];
        let mut it = args.into_iter().skip(1);
        while let Some(a) = it.next() {
            let name = a.trim_start_matches("--").to_string();
            let v = it
                .next()
                .ok_or_else(|| format!("missing value for {name}"))?;
            match values.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = v,
                None => {
                    return Err(format!(
                        "Bad directive or wrong number of arguments: {name}"
                    ))
                }
            }
        }
        Ok(ConfigStore {
            values: RwLock::new(values),
            active_expire: AtomicBool::new(true),
        })
    }
    fn val(&self, k: &str) -> String {
        self.values
            .read()
            .unwrap()
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    pub fn threads(&self) -> usize {
        self.val("threads").parse().unwrap_or(1)
    }
    pub fn databases(&self) -> u64 {
        self.val("databases").parse().unwrap_or(16)
    }
    pub fn port(&self) -> u16 {
        self.val("port").parse().unwrap_or(6379)
    }
    pub fn bind(&self) -> Vec<String> {
        self.val("bind").split(' ').map(String::from).collect()
    }
    pub fn hz(&self) -> u64 {
        self.val("hz").parse().unwrap_or(10)
    }
    pub fn proto_max_bulk_len(&self) -> u64 {
        512 << 20
    }
    pub fn client_query_buffer_limit(&self) -> u64 {
        1 << 30
    }
    pub fn requirepass(&self) -> Option<Vec<u8>> {
        let p = self.val("requirepass");
        (!p.is_empty()).then(|| p.into_bytes())
    }
    pub fn active_expire_enabled(&self) -> bool {
        self.active_expire.load(Ordering::Relaxed)
    }
    pub fn set_active_expire(&self, on: bool) {
        self.active_expire.store(on, Ordering::Relaxed)
    }
    pub fn maxclients(&self) -> u64 {
        10000
    }
    pub fn maxmemory(&self) -> u64 {
        0
    }
    pub fn maxmemory_policy(&self) -> String {
        "noeviction".into()
    }
    pub fn config_file(&self) -> Option<String> {
        None
    }
    pub fn get(&self, patterns: &[Bytes]) -> Vec<(String, String)> {
        self.values
            .read()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                patterns
                    .iter()
                    .any(|p| crate::types::glob::glob_match(p, k.as_bytes(), true))
            })
            .cloned()
            .collect()
    }
    pub fn set(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
        let mut v = self.values.write().unwrap();
        for (k, val) in pairs {
            let k = String::from_utf8_lossy(k).to_lowercase();
            match v.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = String::from_utf8_lossy(val).into_owned(),
                None => {
                    return Err(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{k}'"
                    ))
                }
            }
        }
        Ok(())
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
