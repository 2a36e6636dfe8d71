/*
 * test_channel.c - master <-> worker framing: encode/decode as pure
 * functions, then orc_channel_send over a real socketpair.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/channel.h"
#include "common/orc.h"

TestSuite(channel, .timeout = 10);

Test(channel, encode_header_layout_without_payload)
{
    uint8_t buf[32];
    memset(buf, 0xAA, sizeof(buf));
    int n = orc_channel_encode(buf, sizeof(buf), ORC_MSG_QUIT, NULL, 0);
    cr_assert_eq(n, ORC_CHANNEL_HEADER);
    const uint8_t expect[ORC_CHANNEL_HEADER] = {ORC_CHANNEL_VERSION, ORC_MSG_QUIT, 0, 0, 0, 0, 0, 0};
    cr_assert_arr_eq(buf, expect, sizeof(expect));
    cr_assert_eq(buf[ORC_CHANNEL_HEADER], 0xAA, "encode wrote past the frame");
}

Test(channel, round_trip_without_payload)
{
    uint8_t buf[ORC_CHANNEL_HEADER];
    int n = orc_channel_encode(buf, sizeof(buf), ORC_MSG_TERMINATE, NULL, 0);
    cr_assert_eq(n, ORC_CHANNEL_HEADER);
    orc_msg_t msg;
    size_t consumed = 0;
    cr_assert_eq(orc_channel_decode(buf, (size_t)n, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.version, ORC_CHANNEL_VERSION);
    cr_assert_eq(msg.type, ORC_MSG_TERMINATE);
    cr_assert_eq(msg.length, 0);
    cr_assert_eq(consumed, ORC_CHANNEL_HEADER);
}

Test(channel, round_trip_with_payload)
{
    const char payload[] = "hello, worker";
    uint8_t buf[64];
    int n = orc_channel_encode(buf, sizeof(buf), ORC_MSG_READY, payload, strlen(payload));
    cr_assert_eq(n, ORC_CHANNEL_HEADER + (int)strlen(payload));
    cr_assert_eq(buf[7], strlen(payload), "length is big-endian in bytes 4..7");
    orc_msg_t msg;
    size_t consumed = 0;
    cr_assert_eq(orc_channel_decode(buf, (size_t)n, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.type, ORC_MSG_READY);
    cr_assert_eq(msg.length, strlen(payload));
    cr_assert_eq(consumed, (size_t)n);
    cr_assert_eq(msg.payload, buf + ORC_CHANNEL_HEADER, "payload points into the buffer");
    cr_assert_arr_eq(msg.payload, payload, strlen(payload));
}

Test(channel, length_is_network_order)
{
    uint8_t payload[0x012C];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    uint8_t buf[ORC_CHANNEL_HEADER + sizeof(payload)];
    int n = orc_channel_encode(buf, sizeof(buf), ORC_MSG_REOPEN, payload, sizeof(payload));
    cr_assert_eq(n, (int)sizeof(buf));
    cr_assert_eq(buf[4], 0x00);
    cr_assert_eq(buf[5], 0x00);
    cr_assert_eq(buf[6], 0x01);
    cr_assert_eq(buf[7], 0x2C);
    orc_msg_t msg;
    size_t consumed;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.length, sizeof(payload));
    cr_assert_arr_eq(msg.payload, payload, sizeof(payload));
}

Test(channel, max_payload_round_trip)
{
    static uint8_t payload[ORC_CHANNEL_PAYLOAD_MAX];
    static uint8_t buf[ORC_CHANNEL_HEADER + ORC_CHANNEL_PAYLOAD_MAX];
    memset(payload, 'x', sizeof(payload));
    int n = orc_channel_encode(buf, sizeof(buf), ORC_MSG_READY, payload, sizeof(payload));
    cr_assert_eq(n, (int)sizeof(buf));
    orc_msg_t msg;
    size_t consumed;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.length, ORC_CHANNEL_PAYLOAD_MAX);
    cr_assert_eq(consumed, sizeof(buf));
}

Test(channel, encode_refuses_oversized_payload)
{
    static uint8_t payload[ORC_CHANNEL_PAYLOAD_MAX + 1];
    static uint8_t buf[ORC_CHANNEL_HEADER + ORC_CHANNEL_PAYLOAD_MAX + 16];
    cr_assert_eq(orc_channel_encode(buf, sizeof(buf), ORC_MSG_READY, payload, sizeof(payload)), ORC_ERR);
}

Test(channel, encode_refuses_small_buffer)
{
    uint8_t buf[32];
    memset(buf, 0xAA, sizeof(buf));
    cr_assert_eq(orc_channel_encode(buf, ORC_CHANNEL_HEADER - 1, ORC_MSG_QUIT, NULL, 0), ORC_ERR);
    cr_assert_eq(orc_channel_encode(buf, 0, ORC_MSG_QUIT, NULL, 0), ORC_ERR);
    cr_assert_eq(orc_channel_encode(buf, ORC_CHANNEL_HEADER + 4, ORC_MSG_READY, "hello", 5), ORC_ERR);
    for (size_t i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], 0xAA, "a refused encode wrote byte %zu", i);
    cr_assert_eq(orc_channel_encode(buf, ORC_CHANNEL_HEADER + 5, ORC_MSG_READY, "hello", 5),
                 ORC_CHANNEL_HEADER + 5);
}

static void assert_every_prefix_is_again(const uint8_t *frame, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        orc_msg_t msg;
        size_t consumed = 12345;
        cr_assert_eq(orc_channel_decode(frame, i, &msg, &consumed), ORC_AGAIN,
                     "prefix of %zu of %zu bytes should be ORC_AGAIN", i, len);
        cr_assert_eq(consumed, 12345, "consumed set on ORC_AGAIN");
    }
}

Test(channel, truncated_frame_without_payload_is_again)
{
    uint8_t frame[ORC_CHANNEL_HEADER];
    int n = orc_channel_encode(frame, sizeof(frame), ORC_MSG_QUIT, NULL, 0);
    cr_assert_eq(n, ORC_CHANNEL_HEADER);
    assert_every_prefix_is_again(frame, (size_t)n);
}

Test(channel, truncated_frame_with_payload_is_again)
{
    uint8_t frame[64];
    int n = orc_channel_encode(frame, sizeof(frame), ORC_MSG_READY, "0123456789abcdef", 16);
    cr_assert_eq(n, ORC_CHANNEL_HEADER + 16);
    assert_every_prefix_is_again(frame, (size_t)n);
}

Test(channel, two_frames_back_to_back)
{
    uint8_t buf[64];
    int a = orc_channel_encode(buf, sizeof(buf), ORC_MSG_READY, "abc", 3);
    cr_assert_eq(a, ORC_CHANNEL_HEADER + 3);
    int b = orc_channel_encode(buf + a, sizeof(buf) - (size_t)a, ORC_MSG_REOPEN, NULL, 0);
    cr_assert_eq(b, ORC_CHANNEL_HEADER);
    size_t total = (size_t)(a + b);

    orc_msg_t msg;
    size_t consumed = 0;
    cr_assert_eq(orc_channel_decode(buf, total, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.type, ORC_MSG_READY);
    cr_assert_eq(msg.length, 3);
    cr_assert_arr_eq(msg.payload, "abc", 3);
    cr_assert_eq(consumed, (size_t)a);

    size_t off = consumed;
    cr_assert_eq(orc_channel_decode(buf + off, total - off, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.type, ORC_MSG_REOPEN);
    cr_assert_eq(msg.length, 0);
    cr_assert_eq(consumed, (size_t)b);
    off += consumed;
    cr_assert_eq(off, total);
    cr_assert_eq(orc_channel_decode(buf + off, total - off, &msg, &consumed), ORC_AGAIN);
}

Test(channel, bad_version)
{
    uint8_t buf[ORC_CHANNEL_HEADER];
    orc_channel_encode(buf, sizeof(buf), ORC_MSG_QUIT, NULL, 0);
    orc_msg_t msg;
    size_t consumed;
    buf[0] = ORC_CHANNEL_VERSION + 1;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
    cr_assert_eq(orc_channel_decode(buf, 1, &msg, &consumed), ORC_ERR, "a bad version is known from byte 1");
    buf[0] = 0;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
}

Test(channel, type_zero)
{
    uint8_t buf[ORC_CHANNEL_HEADER];
    orc_channel_encode(buf, sizeof(buf), ORC_MSG_QUIT, NULL, 0);
    buf[1] = 0;
    orc_msg_t msg;
    size_t consumed;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
    cr_assert_eq(orc_channel_decode(buf, 2, &msg, &consumed), ORC_ERR);
}

Test(channel, type_above_max)
{
    uint8_t buf[ORC_CHANNEL_HEADER];
    orc_channel_encode(buf, sizeof(buf), ORC_MSG_QUIT, NULL, 0);
    orc_msg_t msg;
    size_t consumed;
    buf[1] = ORC_MSG_TYPE_MAX + 1;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
    buf[1] = 0xFF;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
    /* every valid type decodes */
    for (int t = 1; t <= ORC_MSG_TYPE_MAX; t++) {
        buf[1] = (uint8_t)t;
        cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_OK, "type %d", t);
        cr_assert_eq(msg.type, t);
    }
}

Test(channel, payload_length_above_max)
{
    uint8_t buf[ORC_CHANNEL_HEADER];
    orc_channel_encode(buf, sizeof(buf), ORC_MSG_READY, NULL, 0);
    orc_msg_t msg;
    size_t consumed;
    uint32_t len = ORC_CHANNEL_PAYLOAD_MAX + 1;
    buf[4] = (uint8_t)(len >> 24);
    buf[5] = (uint8_t)(len >> 16);
    buf[6] = (uint8_t)(len >> 8);
    buf[7] = (uint8_t)len;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR,
                 "an impossible length is an error, not a wait for more bytes");
    buf[4] = buf[5] = buf[6] = buf[7] = 0xFF;
    cr_assert_eq(orc_channel_decode(buf, sizeof(buf), &msg, &consumed), ORC_ERR);
}

Test(channel, type_names)
{
    cr_assert_str_eq(orc_channel_type_name(ORC_MSG_READY), "READY");
    cr_assert_str_eq(orc_channel_type_name(ORC_MSG_QUIT), "QUIT");
    cr_assert_str_eq(orc_channel_type_name(ORC_MSG_TERMINATE), "TERMINATE");
    cr_assert_str_eq(orc_channel_type_name(ORC_MSG_REOPEN), "REOPEN");
    cr_assert_str_eq(orc_channel_type_name(0), "?");
    cr_assert_str_eq(orc_channel_type_name(ORC_MSG_TYPE_MAX + 1), "?");
    cr_assert_str_eq(orc_channel_type_name(-1), "?");
}

/* ---- over a real socketpair ------------------------------------------- */

static void make_pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
}

/* Reads whatever is queued on FD (non-blocking) into BUF. */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + have, cap - have, 0);
        if (n > 0) {
            have += (size_t)n;
            if (have == cap)
                break;
            continue;
        }
        cr_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "recv: %zd %s", n, strerror(errno));
        break;
    }
    return have;
}

Test(channel, send_and_receive_over_socketpair)
{
    int sv[2];
    make_pair(sv);
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_READY), ORC_OK);
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_QUIT), ORC_OK);
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_TERMINATE), ORC_OK);

    uint8_t buf[256];
    size_t have = drain(sv[1], buf, sizeof(buf));
    cr_assert_eq(have, 3 * ORC_CHANNEL_HEADER);

    const int expect[] = {ORC_MSG_READY, ORC_MSG_QUIT, ORC_MSG_TERMINATE};
    size_t off = 0;
    for (size_t i = 0; i < ORC_ARRAY_LEN(expect); i++) {
        orc_msg_t msg;
        size_t consumed = 0;
        cr_assert_eq(orc_channel_decode(buf + off, have - off, &msg, &consumed), ORC_OK);
        cr_assert_eq(msg.type, expect[i], "frame %zu: type %d", i, msg.type);
        cr_assert_eq(msg.length, 0);
        off += consumed;
    }
    cr_assert_eq(off, have);
    close(sv[0]);
    close(sv[1]);
}

Test(channel, send_both_directions)
{
    int sv[2];
    make_pair(sv);
    cr_assert_eq(orc_channel_send(sv[1], ORC_MSG_READY), ORC_OK);  /* worker -> master */
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_REOPEN), ORC_OK); /* master -> worker */
    uint8_t buf[64];
    orc_msg_t msg;
    size_t consumed;
    cr_assert_eq(drain(sv[0], buf, sizeof(buf)), ORC_CHANNEL_HEADER);
    cr_assert_eq(orc_channel_decode(buf, ORC_CHANNEL_HEADER, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.type, ORC_MSG_READY);
    cr_assert_eq(drain(sv[1], buf, sizeof(buf)), ORC_CHANNEL_HEADER);
    cr_assert_eq(orc_channel_decode(buf, ORC_CHANNEL_HEADER, &msg, &consumed), ORC_OK);
    cr_assert_eq(msg.type, ORC_MSG_REOPEN);
    close(sv[0]);
    close(sv[1]);
}

Test(channel, send_to_closed_peer_fails_without_sigpipe)
{
    int sv[2];
    make_pair(sv);
    close(sv[1]);
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_QUIT), ORC_ERR);
    close(sv[0]);
}

Test(channel, send_on_full_socket_fails_without_partial_frame)
{
    int sv[2];
    make_pair(sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    size_t ok = 0;
    while (orc_channel_send(sv[0], ORC_MSG_READY) == ORC_OK) {
        ok++;
        cr_assert_lt(ok, 1000000, "the socket never filled up");
    }
    cr_assert_gt(ok, 0);

    static uint8_t buf[8 << 20];
    size_t have = drain(sv[1], buf, sizeof(buf));
    cr_assert_eq(have, ok * ORC_CHANNEL_HEADER, "a refused send left a partial frame");
    for (size_t off = 0; off < have;) {
        orc_msg_t msg;
        size_t consumed;
        cr_assert_eq(orc_channel_decode(buf + off, have - off, &msg, &consumed), ORC_OK);
        cr_assert_eq(msg.type, ORC_MSG_READY);
        off += consumed;
    }
    /* once drained, sending works again */
    cr_assert_eq(orc_channel_send(sv[0], ORC_MSG_QUIT), ORC_OK);
    close(sv[0]);
    close(sv[1]);
}

Test(channel, send_on_bad_fd_fails)
{
    cr_assert_eq(orc_channel_send(-1, ORC_MSG_QUIT), ORC_ERR);
}
