// SPDX-License-Identifier: MIT
/* sp_tp_format_field: field offsets from a tracepoint's format text. */
#include <errno.h>

#include "sp_stats.h"
#include "tap.h"

static const char fmt[] =
	"name: nvme_setup_cmd\n"
	"ID: 1234\n"
	"format:\n"
	"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
	"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
	"\n"
	"\tfield:char disk[32];\toffset:8;\tsize:32;\tsigned:0;\n"
	"\tfield:int ctrl_id;\toffset:40;\tsize:4;\tsigned:1;\n"
	"\tfield:int qid;\toffset:44;\tsize:4;\tsigned:1;\n"
	"\tfield:u16 cid;\toffset:52;\tsize:2;\tsigned:0;\n"
	"\tfield:u8 cdw10[24];\toffset:61;\tsize:24;\tsigned:0;\n"
	"\n"
	"print fmt: \"nvme%d: qid=%d\", REC->ctrl_id, REC->qid\n";

int main(void)
{
	int off = -1, size = -1;

	TAP_CHECK(sp_tp_format_field(fmt, "qid", &off, &size) == 0 && off == 44 && size == 4,
		  "qid at 44, 4 bytes");
	TAP_CHECK(sp_tp_format_field(fmt, "cid", &off, &size) == 0 && off == 52 && size == 2,
		  "cid at 52, 2 bytes");
	TAP_CHECK(sp_tp_format_field(fmt, "disk", &off, &size) == 0 && off == 8 && size == 32,
		  "an array is found by its name");
	TAP_CHECK(sp_tp_format_field(fmt, "cdw10", &off, &size) == 0 && off == 61,
		  "the last field");
	TAP_CHECK(sp_tp_format_field(fmt, "id", &off, &size) == -ENOENT,
		  "a name that is only the end of another (ctrl_id, qid, cid) is not it");
	TAP_CHECK(sp_tp_format_field(fmt, "ctrl", &off, &size) == -ENOENT, "a prefix is not it");
	TAP_CHECK(sp_tp_format_field("\tfield:int qid;\toffset:-4;\tsize:4;\n", "qid", &off,
				     &size) == -ERANGE, "a negative offset is refused");
	TAP_CHECK(sp_tp_format_field("\tfield:int qid;\toffset:99999999;\tsize:4;\n", "qid",
				     &off, &size) == -ERANGE, "a huge offset is refused");
	TAP_CHECK(sp_tp_format_field("\tfield:int qid;\toffset:4;\n\tsize:4;\n", "qid", &off,
				     &size) == -EINVAL, "size on another line is not this field's");
	TAP_CHECK(sp_tp_format_field("\tfield:int qid\n", "qid", &off, &size) == -ENOENT,
		  "a declaration without its ';' is no field");
	TAP_CHECK(sp_tp_format_field("", "qid", &off, &size) == -ENOENT, "empty text");
	return tap_done();
}
