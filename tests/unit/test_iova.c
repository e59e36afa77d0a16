// SPDX-License-Identifier: MIT
/* IOVA allocator: alignment, holes, merging, and no loss over many cycles. */
#include <errno.h>

#include "iova.h"
#include "tap.h"

int main(void)
{
	/* two ranges around a hole, like the x86 MSI window */
	struct sp_iova_extent r[] = {
		{ 0xfef00000ULL, 0x100000000ULL }, { 0x100000, 0xfee00000ULL },
	};
	struct sp_iova a;
	uint64_t x, y, z, big;
	int ret;

	ret = sp_iova_init(&a, r, 2);
	TAP_CHECK(ret == 0 && a.nr == 2, "two ranges, sorted");
	TAP_CHECK(a.free[0].start == 0x100000, "lowest range first");
	ret = sp_iova_alloc(&a, 4096, 4096, &x);
	TAP_CHECK(ret == 0 && x == 0x100000, "first fit at the bottom");
	ret = sp_iova_alloc(&a, 2 << 20, 2 << 20, &y);
	TAP_CHECK(ret == 0 && y == 0x200000,
		  "2 MiB aligned for a huge page: 0x%llx", (unsigned long long)y);
	TAP_CHECK(a.nr == 3, "alignment left a hole below it (%u extents)", a.nr);
	ret = sp_iova_alloc(&a, 8192, 4096, &z);
	TAP_CHECK(ret == 0 && z == 0x101000, "the hole is used next");
	ret = sp_iova_free(&a, y, 2 << 20);
	TAP_CHECK(ret == 0, "free the aligned extent");
	ret = sp_iova_free(&a, x, 4096) ?: sp_iova_free(&a, z, 8192);
	TAP_CHECK(ret == 0, "free the rest");
	TAP_CHECK(a.nr == 2 && a.in_use == 0 && a.free[0].start == 0x100000 &&
		  a.free[0].end == 0xfee00000ULL, "everything merged back into the original ranges");
	ret = sp_iova_free(&a, 0x100000, 4096);
	TAP_CHECK(ret == -EINVAL, "double free refused");
	ret = sp_iova_alloc(&a, 3, 3, &x);
	TAP_CHECK(ret == -EINVAL, "alignment must be a power of two");
	ret = 0;
	for (int i = 0; i < 100000 && !ret; i++) {
		ret = sp_iova_alloc(&a, 1 << 20, 4096, &x);
		if (!ret)
			ret = sp_iova_alloc(&a, 4096, 4096, &y);
		if (!ret)
			ret = sp_iova_free(&a, x, 1 << 20);
		if (!ret)
			ret = sp_iova_free(&a, y, 4096);
	}
	TAP_CHECK(ret == 0 && a.in_use == 0 && a.nr == 2, "100000 map/unmap cycles leak nothing");
	ret = sp_iova_alloc(&a, 0x100000000ULL, 4096, &big);
	TAP_CHECK(ret == -ENOSPC, "too big: ENOSPC");
	ret = sp_iova_alloc(&a, 0x100000, 4096, &big);
	TAP_CHECK(ret == 0 && big == 0x100000,
		  "a 1 MiB extent still fits in the hole-free space");
	sp_iova_destroy(&a);
	return tap_done();
}
