//! The `SkillHandler` trait bots implement, and `SkillRouter`, which picks a
//! handler by block id, block name or action (skill) name.

use std::{collections::HashMap, future::Future, sync::Arc};

use async_trait::async_trait;

use super::{request::SkillRequest, response::SkillResponse};

/// Answers skill requests. An error, a panic or a response that breaks
/// Kakao's limits is logged and replaced by the configured fallback text.
#[async_trait]
pub trait SkillHandler: Send + Sync + 'static {
    async fn handle(&self, request: SkillRequest) -> anyhow::Result<SkillResponse>;
}

/// Any `async fn(SkillRequest) -> anyhow::Result<SkillResponse>` is a handler.
#[async_trait]
impl<F, Fut> SkillHandler for F
where
    F: Fn(SkillRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<SkillResponse>> + Send + 'static,
{
    async fn handle(&self, request: SkillRequest) -> anyhow::Result<SkillResponse> {
        self(request).await
    }
}

/// Routes by block id, then block name, then action name, then the fallback.
#[derive(Default, Clone)]
pub struct SkillRouter {
    by_block_id: HashMap<String, Arc<dyn SkillHandler>>,
    by_block_name: HashMap<String, Arc<dyn SkillHandler>>,
    by_action_name: HashMap<String, Arc<dyn SkillHandler>>,
    fallback: Option<Arc<dyn SkillHandler>>,
}

/// No route matched and no fallback was set.
#[derive(Debug, thiserror::Error)]
#[error("no skill handler for block {block_id:?} ({block_name:?}) or action {action_name:?}")]
pub struct NoRoute {
    pub block_id: String,
    pub block_name: String,
    pub action_name: String,
}

impl SkillRouter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn block_id(mut self, id: impl Into<String>, handler: impl SkillHandler) -> Self {
        self.by_block_id.insert(id.into(), Arc::new(handler));
        self
    }

    pub fn block_name(mut self, name: impl Into<String>, handler: impl SkillHandler) -> Self {
        self.by_block_name.insert(name.into(), Arc::new(handler));
        self
    }

    pub fn action_name(mut self, name: impl Into<String>, handler: impl SkillHandler) -> Self {
        self.by_action_name.insert(name.into(), Arc::new(handler));
        self
    }

    pub fn fallback(mut self, handler: impl SkillHandler) -> Self {
        self.fallback = Some(Arc::new(handler));
        self
    }

    /// The handler a request goes to, if any.
    pub fn route(&self, request: &SkillRequest) -> Option<&Arc<dyn SkillHandler>> {
        let block = request.block();
        self.by_block_id
            .get(&block.id)
            .or_else(|| self.by_block_name.get(&block.name))
            // Not read unless routed on: the action is parsed on first use.
            .or_else(|| {
                if self.by_action_name.is_empty() {
                    None
                } else {
                    self.by_action_name.get(&request.action.name)
                }
            })
            .or(self.fallback.as_ref())
    }
}

#[async_trait]
impl SkillHandler for SkillRouter {
    async fn handle(&self, request: SkillRequest) -> anyhow::Result<SkillResponse> {
        match self.route(&request) {
            Some(handler) => handler.handle(request).await,
            None => {
                let block = request.block();
                Err(NoRoute {
                    block_id: block.id,
                    block_name: block.name,
                    action_name: request.action.name.clone(),
                }
                .into())
            }
        }
    }
}
