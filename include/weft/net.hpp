// weft::net: sockets whose calls look blocking and park only the calling
// fiber. This header brings in all of it.
#pragma once

#include <weft/net/address.hpp>
#include <weft/net/datagram.hpp>
#include <weft/net/errors.hpp>
#include <weft/net/expiry.hpp>
#include <weft/net/resolve.hpp>
#include <weft/net/socket.hpp>
#include <weft/net/stream.hpp>
#include <weft/net/tcp.hpp>
#include <weft/net/udp.hpp>
#include <weft/net/unix.hpp>
