//! How a component is called for a message: whichever inbound-redis it exports.

use spinrt_engine::exports::inbound_redis::Spin1RedisTriggerPre;
use spinrt_engine::exports::inbound_redis3::RedisTriggerPre;
use spinrt_engine::{InstanceState, LoadedComponent};

pub enum Executor {
    /// `spin:redis/inbound-redis@3.0.0` (spin-sdk 7).
    V3(RedisTriggerPre<InstanceState>),
    /// `fermyon:spin/inbound-redis` (spin-sdk 3 to 5).
    Unversioned(Spin1RedisTriggerPre<InstanceState>),
}

impl Executor {
    pub fn for_component(component: &LoadedComponent) -> Result<Self, String> {
        let pre = component.instance_pre();
        if let Ok(pre) = RedisTriggerPre::new(pre.clone()) {
            return Ok(Self::V3(pre));
        }
        match Spin1RedisTriggerPre::new(pre.clone()) {
            Ok(pre) => Ok(Self::Unversioned(pre)),
            Err(e) => Err(format!(
                "component '{}' exports no Redis handler: neither \
                 spin:redis/inbound-redis@3.0.0 nor fermyon:spin/inbound-redis ({e:#})",
                component.id()
            )),
        }
    }

    /// Calls the component's `handle-message` in a fresh instance; `Err` says why the message
    /// was not handled (the guest's error, a trap).
    pub async fn handle(
        &self,
        component: &LoadedComponent,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        let mut store = component.new_store().map_err(|e| e.to_string())?;
        let outcome = match self {
            Self::V3(pre) => {
                let guest = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                store
                    .run_concurrent(async move |accessor| {
                        guest
                            .spin_redis_inbound_redis()
                            .call_handle_message(accessor, payload)
                            .await
                    })
                    .await
                    .and_then(|r| r)
                    .map_err(|e| format!("{e:#}"))?
                    .map_err(|e| format!("{e:?}"))
            }
            Self::Unversioned(pre) => {
                let guest = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                guest
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut store, &payload)
                    .await
                    .map_err(|e| format!("{e:#}"))?
                    // Its one error value says nothing more; the guest's stderr may.
                    .map_err(|_| "error".to_string())
            }
        };
        outcome.map_err(|e| format!("returned an error: {e}"))
    }
}
