//! The KakaoTalk Bot API: the chatroom events Kakao delivers by webhook or
//! over the gateway ([`event`]), and the gateway's frames ([`gateway`]).

pub mod event;
pub mod gateway;

pub use self::event::BotEvent;
