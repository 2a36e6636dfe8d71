/*
 * channel.c - framing of master <-> worker messages.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/channel.h"
#include "common/orc.h"

int orc_channel_encode(uint8_t *buf, size_t cap, orc_msg_type_t type, const void *payload, size_t len)
{
    if (len > ORC_CHANNEL_PAYLOAD_MAX || cap < ORC_CHANNEL_HEADER + len)
        return ORC_ERR;
    buf[0] = ORC_CHANNEL_VERSION;
    buf[1] = (uint8_t)type;
    buf[2] = 0;
    buf[3] = 0;
    buf[4] = (uint8_t)(len >> 24);
    buf[5] = (uint8_t)(len >> 16);
    buf[6] = (uint8_t)(len >> 8);
    buf[7] = (uint8_t)len;
    if (len > 0)
        memcpy(buf + ORC_CHANNEL_HEADER, payload, len);
    return (int)(ORC_CHANNEL_HEADER + len);
}

int orc_channel_decode(const uint8_t *buf, size_t len, orc_msg_t *msg, size_t *consumed)
{
    if (len >= 1 && buf[0] != ORC_CHANNEL_VERSION)
        return ORC_ERR;
    if (len >= 2 && (buf[1] == 0 || buf[1] > ORC_MSG_TYPE_MAX))
        return ORC_ERR;
    if (len < ORC_CHANNEL_HEADER)
        return ORC_AGAIN;
    uint32_t plen = ((uint32_t)buf[4] << 24) | ((uint32_t)buf[5] << 16) | ((uint32_t)buf[6] << 8) | buf[7];
    if (plen > ORC_CHANNEL_PAYLOAD_MAX)
        return ORC_ERR;
    if (len < ORC_CHANNEL_HEADER + plen)
        return ORC_AGAIN;
    msg->version = buf[0];
    msg->type = buf[1];
    msg->length = plen;
    msg->payload = buf + ORC_CHANNEL_HEADER;
    *consumed = ORC_CHANNEL_HEADER + plen;
    return ORC_OK;
}

int orc_channel_send(int fd, orc_msg_type_t type)
{
    uint8_t frame[ORC_CHANNEL_HEADER];
    orc_channel_encode(frame, sizeof(frame), type, NULL, 0);
    ssize_t n;
    do {
        n = send(fd, frame, sizeof(frame), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(frame) ? ORC_OK : ORC_ERR;
}

const char *orc_channel_type_name(int type)
{
    static const char *names[] = {"?", "READY", "QUIT", "TERMINATE", "REOPEN", "RELOAD"};
    return (type > 0 && type <= ORC_MSG_TYPE_MAX) ? names[type] : "?";
}
