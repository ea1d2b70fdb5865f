//! Where DataFusion finds a file's store: spindle's own stores (S3 with its credentials,
//! HDFS clients, local disk), resolved from the file's URL on first use, so a worker
//! reading a plan's files needs to be told nothing about them beforehand.

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use spindle_io::storage::Location;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// Stores by `scheme://authority`: those registered explicitly first, then spindle's.
#[derive(Debug, Default)]
pub struct SpindleStores {
    registered: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn key(url: &Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    )
}

impl ObjectStoreRegistry for SpindleStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut registered = self.registered.lock().unwrap_or_else(|e| e.into_inner());
        registered.insert(key(url), store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = key(url);
        if let Some(store) = self
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(store.clone());
        }
        if url.scheme() == "file" {
            static LOCAL: OnceLock<Arc<dyn ObjectStore>> = OnceLock::new();
            return Ok(LOCAL
                .get_or_init(|| Arc::new(LocalFileSystem::new()))
                .clone());
        }
        // Location keeps one store per root, so each is built once per process.
        let location = Location::parse(&format!("{key}/"))
            .map_err(|e| DataFusionError::Execution(format!("no store for {url}: {e}")))?;
        Ok(location.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_is_its_scheme_and_authority() {
        let url = Url::parse("hdfs://nn.example:8020/data/x.csv").unwrap();
        assert_eq!(key(&url), "hdfs://nn.example:8020");
        let url = Url::parse("s3://bucket/key").unwrap();
        assert_eq!(key(&url), "s3://bucket");
        assert_eq!(key(&Url::parse("file:///tmp/x").unwrap()), "file://");
    }

    #[test]
    fn registered_stores_come_first_and_local_files_need_none() {
        let stores = SpindleStores::default();
        let url = Url::parse("memory://test/").unwrap();
        let mem: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        assert!(stores.register_store(&url, mem.clone()).is_none());
        assert!(Arc::ptr_eq(&stores.get_store(&url).unwrap(), &mem));
        let local = Url::parse("file:///tmp").unwrap();
        let a = stores.get_store(&local).unwrap();
        assert!(Arc::ptr_eq(&a, &stores.get_store(&local).unwrap()));
        let err = stores
            .get_store(&Url::parse("gopher://x/").unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("no store for gopher://x/"),
            "{err}"
        );
    }
}
