/*
 * channel.h - the master <-> worker message channel.
 *
 * One SOCK_STREAM socketpair per worker.  Every message is a frame:
 * {version u8, type u8, reserved u16, length u32 (network order)} then
 * LENGTH bytes of payload.  Encoding and decoding are pure functions on
 * buffers so they can be tested without sockets.
 */
#ifndef ORC_CHANNEL_H
#define ORC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define ORC_CHANNEL_VERSION 1
#define ORC_CHANNEL_HEADER 8
#define ORC_CHANNEL_PAYLOAD_MAX 4096

typedef enum {
    ORC_MSG_READY = 1,     /* worker -> master: serving */
    ORC_MSG_QUIT = 2,      /* master -> worker: drain and exit */
    ORC_MSG_TERMINATE = 3, /* master -> worker: exit now */
    ORC_MSG_REOPEN = 4,    /* master -> worker: reopen log files */
    ORC_MSG_RELOAD = 5,    /* worker -> master: reload asked through the admin API */
    ORC_MSG_TYPE_MAX = 5,
} orc_msg_type_t;

typedef struct {
    uint8_t version;
    uint8_t type;
    uint32_t length;
    const uint8_t *payload; /* points into the decoded buffer */
} orc_msg_t;

/* Returns the frame size, or ORC_ERR when it does not fit in CAP. */
int orc_channel_encode(uint8_t *buf, size_t cap, orc_msg_type_t type, const void *payload, size_t len);

/* ORC_OK with *consumed set; ORC_AGAIN when more bytes are needed;
 * ORC_ERR for a frame that can never be valid (version, type, length). */
int orc_channel_decode(const uint8_t *buf, size_t len, orc_msg_t *msg, size_t *consumed);

/* Blocking-free send of a payload-less message on a non-blocking fd. */
int orc_channel_send(int fd, orc_msg_type_t type);

const char *orc_channel_type_name(int type);

#endif
