/* SPDX-License-Identifier: MIT */
/* libbpf set-up shared by every loader. */
#ifndef SP_BPF_H
#define SP_BPF_H

/*
 * Routes libbpf's messages through sp_log (warnings only at debug
 * level, since probing for features produces expected failures) and
 * makes sure tracefs is mounted for tracepoint attachment.
 */
void sp_bpf_init(void);

#endif
