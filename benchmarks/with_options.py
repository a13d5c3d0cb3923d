"""What a ``with_options`` copy costs (issue: under 10 µs, and no new connector).

A worker serving many tenants makes one copy per tenant, or per call: the copy
must stay cheap. Times, in the same run, a bare ``copy.copy`` of the client's
transport (what a naive copy would pay), ``with_options(timeout=)``, ``with_options(headers=)`` and
``with_options(api_key=, base_url=)``, and checks that no copy opens a pool of
its own.

    python -m benchmarks.with_options [--number 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import timeit

from uprock_async import UprockClient


async def main(number: int) -> None:
    async with UprockClient("key-0123456789", base_url="http://127.0.0.1:9") as client:
        pool = client._transport.session()
        cases = {
            "copy.copy(transport) [floor]": lambda: copy.copy(client._transport),
            "with_options(timeout=60)": lambda: client.with_options(timeout=60),
            'with_options(headers={"X-Tenant": "42"})': lambda: client.with_options(
                headers={"X-Tenant": "42"}
            ),
            "with_options(api_key=, base_url=)": lambda: client.with_options(
                api_key="tenant-key-987654321", base_url="https://eu.edge.uprock.com"
            ),
        }
        floor = 0.0
        print(f"{'copy':<44} {'µs / copy':>10} {'x floor':>8}")
        for label, make in cases.items():
            best = min(timeit.repeat(make, number=number, repeat=5)) / number * 1e6
            floor = floor or best
            print(f"{label:<44} {best:10.2f} {best / floor:8.1f}")
        tenant = client.with_options(api_key="tenant-key-987654321")
        shared = tenant._transport.session() is pool
        print(f"\ncopies share the original's pool (no new connector): {shared}  (target: True)")
        print("target: every with_options copy under 10 µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    asyncio.run(main(parser.parse_args().number))
