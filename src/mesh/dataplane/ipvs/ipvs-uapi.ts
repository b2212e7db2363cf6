/**
 * Numbers from include/uapi/linux/ip_vs.h (the IPVS generic netlink
 * interface), with the attribute types the kernel's policies in
 * net/netfilter/ipvs/ip_vs_ctl.c give them. Only what shoal reads or writes.
 */

/** Family name and interface version to resolve through nlctrl. */
export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

/** Commands (enum starting at IPVS_CMD_UNSPEC = 0). */
export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

/** First-level attributes. */
export const IPVS_CMD_ATTR = {
  /** Nested IPVS_SVC_ATTR_*. */
  SERVICE: 1,
  /** Nested IPVS_DEST_ATTR_*. */
  DEST: 2,
} as const;

/** Service attributes, inside IPVS_CMD_ATTR_SERVICE. */
export const IPVS_SVC_ATTR = {
  /** u16 address family. */
  AF: 1,
  /** u16 IP protocol. */
  PROTOCOL: 2,
  /** binary union nf_inet_addr (16 bytes; IPv4 in the first 4). */
  ADDR: 3,
  /** u16 holding a __be16 port. */
  PORT: 4,
  /** u32 firewall mark; replaces PROTOCOL, ADDR, PORT. */
  FWMARK: 5,
  /** NUL-terminated scheduler name. */
  SCHED_NAME: 6,
  /** binary struct ip_vs_flags { u32 flags; u32 mask }. */
  FLAGS: 7,
  /** u32 persistence timeout in seconds. */
  TIMEOUT: 8,
  /** u32 holding a __be32 persistence netmask. */
  NETMASK: 9,
  STATS: 10,
  PE_NAME: 11,
  STATS64: 12,
} as const;

/** Destination (real server) attributes, inside IPVS_CMD_ATTR_DEST. */
export const IPVS_DEST_ATTR = {
  ADDR: 1,
  /** u16 holding a __be16 port. */
  PORT: 2,
  /** u32 IP_VS_CONN_F_* forwarding method. */
  FWD_METHOD: 3,
  /** u32 (an int in the kernel). */
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  PERSIST_CONNS: 9,
  STATS: 10,
  /** u16 address family of the destination (Linux 4.3+; absent means the service's). */
  ADDR_FAMILY: 11,
  STATS64: 12,
} as const;

/** Attributes of the IPVS_CMD_GET_INFO reply. */
export const IPVS_INFO_ATTR = {
  VERSION: 1,
  CONN_TAB_SIZE: 2,
} as const;

/** Virtual service flags (IP_VS_SVC_F_*). */
export const IP_VS_SVC_F_PERSISTENT = 0x0001;
/** Set by the kernel on every service in its tables; never sent. */
export const IP_VS_SVC_F_HASHED = 0x0002;
export const IP_VS_SVC_F_ONEPACKET = 0x0004;
export const IP_VS_SVC_F_SCHED1 = 0x0008;
export const IP_VS_SVC_F_SCHED2 = 0x0010;
export const IP_VS_SVC_F_SCHED3 = 0x0020;
/** sh: when the hashed destination is unavailable (weight 0, overloaded), try the next one. */
export const IP_VS_SVC_F_SCHED_SH_FALLBACK = IP_VS_SVC_F_SCHED1;
/** sh: hash the source port too. */
export const IP_VS_SVC_F_SCHED_SH_PORT = IP_VS_SVC_F_SCHED2;

/** Forwarding methods (IP_VS_CONN_F_FWD_MASK bits). */
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;

/** Address families (linux/socket.h). */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** IP protocols (netinet/in.h). */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** Size of union nf_inet_addr: the kernel sends and ipvsadm writes addresses at this size. */
export const NF_INET_ADDR_LEN = 16;
