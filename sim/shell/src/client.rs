//! The task per client request: it carries out the attempts the core dispatches for its
//! request, feeds their answers back, and hands the client its answer. A client that
//! disconnects drops this task's future, which cancels the request in the core and drops
//! the in-flight upstream call with it.

use crate::net::Upstream;
use crate::service::Service;
use crate::shell::{Inbox, Msg};
use gatesim_core::{ClientResponse, Duration, RequestId};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use tracing::Instrument;

/// A client: waits for its request's answer, or gives up after `patience`.
pub(crate) async fn client(
    service: Service,
    request: RequestId,
    inbox: Inbox,
    patience: Option<Duration>,
) {
    let span = tracing::debug_span!("request", request = request.0);
    let served = serve(service, request, inbox).instrument(span);
    match patience {
        None => {
            served.await;
        }
        Some(p) => {
            let patience = std::time::Duration::from_millis(p.as_ms());
            // On timeout `served` is dropped: its guard cancels the request.
            let _ = madsim::time::timeout(patience, served).await;
        }
    }
}

type Call = Pin<Box<dyn Future<Output = Upstream> + Send>>;

enum Next {
    Msg(Option<Msg>),
    Answer(Upstream),
}

/// Serves one request until its answer (or until the run fails: `None`).
async fn serve(service: Service, request: RequestId, mut inbox: Inbox) -> Option<ClientResponse> {
    let mut guard = CancelOnDrop {
        service: service.clone(),
        request,
        armed: true,
    };
    let net = service.net();
    let mut call: Option<Call> = None;
    loop {
        // The mailbox first: a new dispatch supersedes a call the core gave up on.
        let next = poll_fn(|cx| {
            if let Poll::Ready(msg) = inbox.poll_recv(cx) {
                return Poll::Ready(Next::Msg(msg));
            }
            match call.as_mut() {
                Some(c) => c.as_mut().poll(cx).map(Next::Answer),
                None => Poll::Pending,
            }
        })
        .await;
        match next {
            Next::Msg(Some(Msg::Dispatch(attempt))) => {
                let net = net.clone();
                call = Some(Box::pin(async move { net.call(attempt).await }));
            }
            Next::Msg(Some(Msg::Respond(response))) => {
                guard.armed = false;
                return Some(response);
            }
            Next::Msg(None) => {
                guard.armed = false;
                return None;
            }
            Next::Answer(upstream) => {
                call = None;
                service.answer(upstream);
            }
        }
    }
}

/// Cancels the request in the core when the task's future is dropped before the answer.
struct CancelOnDrop {
    service: Service,
    request: RequestId,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.service.cancel(self.request);
        }
    }
}
