//! A group's members and state, for groups of either protocol.
//!
//! rust-rdkafka's `fetch_group_list` sends the classic DescribeGroups request, which a group of
//! the new consumer protocol (KIP-848) does not answer with its members. librdkafka's admin call
//! `rd_kafka_DescribeConsumerGroups` sends ConsumerGroupDescribe first and falls back to
//! DescribeGroups for classic groups, but rust-rdkafka does not wrap it: this module calls it
//! through the C API. It is the only `unsafe` code of the workspace.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};

/// What a description says about one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Description {
    pub(crate) members: usize,
    pub(crate) stable: bool,
}

/// Describes `group` through `client` (any client; admin calls need no group membership),
/// waiting up to `timeout`. Blocks the calling thread.
pub(crate) fn describe<C: ClientContext>(
    client: &Client<C>,
    group: &str,
    timeout: Duration,
) -> Result<Description, String> {
    let name = CString::new(group).map_err(|_| format!("group {group:?} holds a NUL byte"))?;
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let rk = client.native_ptr();
    // SAFETY: `rk` is a live client for as long as `client` is borrowed. The options and the
    // queue are created here and destroyed below on every path; the event is owned by this
    // function once polled and destroyed after everything it points to has been copied out.
    unsafe {
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        );
        if options.is_null() {
            return Err("librdkafka refused the admin options".to_owned());
        }
        let mut errstr = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        let queue = rd::rd_kafka_queue_new(rk);
        let mut groups = [name.as_ptr()];
        rd::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options, queue);
        // The request's own timeout answers first; the margin only guards against a hang.
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1000));
        let described = if event.is_null() {
            Err(format!("no answer within {timeout:?}"))
        } else {
            let described = read(event);
            rd::rd_kafka_event_destroy(event);
            described
        };
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_AdminOptions_destroy(options);
        described
    }
}

/// Copies the description out of a DescribeConsumerGroups result event.
///
/// # Safety
/// `event` is a live event polled from the queue a DescribeConsumerGroups call answered on.
unsafe fn read(event: *mut rd::rd_kafka_event_t) -> Result<Description, String> {
    // SAFETY: the caller's; every pointer read here lives as long as `event`.
    unsafe {
        if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(text(rd::rd_kafka_event_error_string(event)));
        }
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event);
        if result.is_null() {
            return Err("the answer is not a group description".to_owned());
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &raw mut count);
        if groups.is_null() || count == 0 {
            return Err("the answer describes no group".to_owned());
        }
        let group = *groups;
        let error = rd::rd_kafka_ConsumerGroupDescription_error(group);
        if !error.is_null() {
            return Err(text(rd::rd_kafka_error_string(error)));
        }
        let state = rd::rd_kafka_ConsumerGroupDescription_state(group);
        Ok(Description {
            members: rd::rd_kafka_ConsumerGroupDescription_member_count(group),
            stable: state
                == rd::rd_kafka_consumer_group_state_t::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE,
        })
    }
}

/// A C string librdkafka owns, copied.
///
/// # Safety
/// `s` is null or a NUL-terminated string that lives for the call.
unsafe fn text(s: *const c_char) -> String {
    if s.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: the caller's.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}
