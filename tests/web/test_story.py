"""The whole story in a real browser on a real node, as a member would click through it.

`test_member_story`: create a key in the browser, get admitted (the test
plays the operator), publish the switch plate from the corpus and see it in
3D, describe a workshop and offer it, vote on a value-sharing policy and on a
ranked choice (changing the vote before the close), read the results with
every round, record a contribution and read the ledger with proofs checked
in the browser. `test_job_story`: the thumbnail and analysis the node makes in
the background, the routing ranking, a job followed live from request to
payment, and the payment's distribution. Every page is photographed; every
request is checked against the node's OpenAPI document and for key material.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.signing
import pytest
import rfc8785
from fednet import wait_for
from webui import UI, check_traffic, corpus, run_async

from node.client import NodeClient
from protocol.keys import AgentKey
from protocol.records import Record, format_time
from protocol.signing import leaf_bytes, sign

pytestmark = pytest.mark.slow

PLATE = "designs/switch-plate-gopro/Switch_Plate_GoPro_Compatible.stl"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def did_of(public_key: bytes) -> str:
    number = int.from_bytes(b"\xed\x01" + public_key, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = B58[rem] + out
    return "did:key:z" + out


def sign_in_with_new_key(ui: UI) -> tuple[str, bytes]:
    """Create a key in the browser and save its backup; returns (did, seed from the backup)."""
    ui.goto("/ui/key")
    ui.page.get_by_role("button", name="Create my key").click()
    with ui.page.expect_download() as download:
        ui.page.get_by_role("link", name="Download backup key file").click()
    pem = download.value.path().read_text(encoding="ascii").splitlines()
    seed = base64.b64decode("".join(pem[1:-1]))[16:]
    did = ui.page.locator("#my-did").text_content()
    assert did == did_of(bytes(nacl.signing.SigningKey(seed).verify_key))
    return did, seed


async def cast(node_url: str, voter: AgentKey, proposal_id: str, choice: dict[str, Any]) -> None:
    """Another member votes, from outside the browser (signed by the protocol core)."""
    record = Record(
        type="ballot",
        author=voter.did,
        created=format_time(datetime.now(UTC)),
        body={"proposal": proposal_id, **choice},
    )
    async with NodeClient(node_url) as client:
        status, _ = await client.signed_post(
            voter,
            f"/api/v1/proposals/{proposal_id}/ballots",
            leaf_bytes(sign(record, voter)),
            "application/json",
        )
    assert status == 201


def propose(ui: UI, title: str, method: str, options: str, closes_in_s: int) -> str:
    """Fill the proposal form (any action chosen beforehand) and sign it; returns the id."""
    ui.page.get_by_label("Title", exact=True).fill(title)
    ui.page.get_by_label("Text").fill(f"{title} Vote before the close.")
    ui.page.get_by_label("Voting method").select_option(method)
    ui.page.get_by_label("Options").fill(options)
    ui.page.evaluate(
        """(s) => {
            const d = new Date(Date.now() + s * 1000);
            const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
            document.getElementById('p-closes').value = local.toISOString().slice(0, 19);
        }""",
        closes_in_s,
    )
    ui.page.get_by_role("button", name="Sign and propose").click()
    proposed = ui.page.locator(f'#proposal-list li:has-text("{title}")')
    proposed.wait_for()
    proposal_id = proposed.get_attribute("data-id")
    assert proposal_id is not None
    return proposal_id


POLICY = {
    "version": 1,
    "workshop_bp": 7000,
    "designers_bp": 2000,
    "decay_bp": 5000,
    "max_generations": 3,
    "commons_bp": 1000,
    "named": [],
    "currencies": ["EUR"],
}


async def adopt_policy(node_url: str, voters: list[AgentKey], *, closes_in_s: int) -> None:
    """Members adopt POLICY (commons fund: the node) by a majority vote; wait until in force."""
    async with NodeClient(node_url) as client:
        node_did = (await client.well_known()).did
        now = datetime.now(UTC)
        body = {
            "title": "Share the value of our jobs",
            "text": "70 / 20 / 10.",
            "options": ["yes", "no"],
            "method": "majority",
            "opens": format_time(now),
            "closes": format_time(now + timedelta(seconds=closes_in_s)),
            "quorum": {"num": 1, "den": 2},
            "action": {
                "kind": "ledger.policy",
                "params": {"policy": {**POLICY, "commons_fund": node_did}},
            },
        }
        proposer = voters[0]
        record = Record(type="proposal", author=proposer.did, created=format_time(now), body=body)
        status, answer = await client.signed_post(
            proposer, "/api/v1/proposals", leaf_bytes(sign(record, proposer)), "application/json"
        )
        assert status == 201, answer
        for voter in voters:
            await cast(node_url, voter, answer["id"], {"choice": "yes"})

        async def in_force() -> bool:
            policies = (await client.get_json("/api/v1/ledger/policies"))["policies"]
            return any(p["decision"] and p["policy"]["workshop_bp"] == 7000 for p in policies)

        await wait_for(in_force, "the adopted policy to be in force", timeout_s=closes_in_s + 30)


def publish_plate(ui: UI, did: str) -> str:
    """Publish the switch plate (STL, mm) with the publish form; returns the design id."""
    plate = corpus(PLATE)
    ui.goto("/ui/publish")
    ui.page.get_by_label("Title").fill("Switch Mounting Plate (GoPro compatible)")
    ui.page.get_by_label("Summary").fill("Mounts an accessibility switch on GoPro mounts.")
    ui.page.get_by_label("Authors").fill(f"Anna Millbourn\nMe <{did}>")
    ui.page.locator("#files").set_input_files(str(plate))
    ui.page.get_by_label(f"Units of {plate.name}").select_option("mm")
    ui.page.get_by_label("Processes").fill("fdm")
    ui.page.get_by_label("Materials").fill("pla, petg")
    ui.page.get_by_label("Tags").fill("accessibility, switch")
    ui.page.get_by_label("Upstream URL").fill(
        "https://github.com/makersmakingchange/Switch-Mounting-Plate-GoPro-Compatible"
    )
    ui.shot("publish-filled")
    ui.page.get_by_role("button", name="Upload, sign and publish").click()
    status = ui.page.locator("#publish-status[data-record-id]")
    status.wait_for()
    design_id = status.get_attribute("data-record-id")
    ui.shot("published")

    # What the node stored is what the browser signed: the file's hash, by hashlib.
    envelope = ui.get_json(f"/fed/v1/records/{design_id}")["envelope"]
    assert design_id == "sha256:" + hashlib.sha256(rfc8785.dumps(envelope["record"])).hexdigest()
    body = envelope["record"]["body"]
    assert body["files"] == [
        {
            "name": plate.name,
            "media_type": "model/stl",
            "sha256": hashlib.sha256(plate.read_bytes()).hexdigest(),
            "size": plate.stat().st_size,
            "role": "model",
            "units": "mm",
        }
    ]
    assert body["authors"] == [{"name": "Anna Millbourn"}, {"name": "Me", "did": did}]
    assert body["license"] == "CC-BY-SA-4.0"
    assert body["materials"] == ["pla", "petg"]

    return design_id


def set_up_workshop(ui: UI, did: str) -> None:
    """The operator registers a workshop the member owns; she describes its printer and
    offers it, from the browser."""
    ui.admin(
        "POST",
        "/api/v1/admin/workshops",
        {
            "workshop": "atelier",
            "name": "Atelier Croix-Rousse",
            "place": {"lat": "45.774000", "lon": "4.832000", "country": "FR", "region": "ARA"},
            "owners": [did],
        },
    )
    ui.goto(f"/ui/workshops/{ui.node.did}/atelier")
    ui.page.locator("#owner-section").wait_for()
    ui.page.get_by_label("Machine id").fill("mk4")
    ui.page.get_by_label("Name", exact=True).fill("Prusa MK4")
    ui.page.get_by_label("Kind").fill("fdm-printer")
    ui.page.locator("#m-processes").fill("fdm")
    ui.page.locator("#m-materials").fill("pla, petg")
    ui.page.get_by_label("X", exact=True).fill("250")
    ui.page.get_by_label("Y", exact=True).fill("210")
    ui.page.get_by_label("Z", exact=True).fill("220")
    ui.page.get_by_role("button", name="Sign and publish machine").click()
    ui.page.locator("#machines li[data-machine=mk4]").wait_for()
    ui.page.get_by_label("Offer id").fill("pla-prints")
    ui.page.locator("#o-processes").fill("fdm")
    ui.page.locator("#o-materials").fill("pla")
    ui.page.get_by_label("Setup (in cents)").fill("500")
    ui.page.get_by_label("Per cm³ (in cents)").fill("12")
    ui.page.get_by_label("Per hour (in cents)").fill("300")
    ui.page.get_by_label("Serves countries").fill("FR")
    ui.page.get_by_role("button", name="Sign and publish offer").click()
    ui.page.locator("#offers li[data-offer=pla-prints]").wait_for()
    machine = ui.get_json(f"/api/v1/workshops/{ui.node.did}/atelier")["machines"][0]
    assert machine["build_volume_mm"] == {"x": "250.000", "y": "210.000", "z": "220.000"}
    ui.shot("workshop")
    ui.goto("/ui/workshops")
    ui.page.get_by_label("Your latitude").fill("45.764043")
    ui.page.get_by_label("Your longitude").fill("4.835659")
    ui.page.get_by_role("button", name="Sort by distance").click()
    distance = ui.page.locator("li.workshop[data-slug=atelier] .distance")
    distance.wait_for()
    # Haversine on a 6371.0088 km sphere, about 1.1 km from Lyon's centre.
    dlat = math.radians(45.774 - 45.764043)
    dlon = math.radians(4.832 - 4.835659)
    cosines = math.cos(math.radians(45.764043)) * math.cos(math.radians(45.774))
    a = math.sin(dlat / 2) ** 2 + cosines * math.sin(dlon / 2) ** 2
    km = 2 * 6371.0088 * math.asin(math.sqrt(a))
    assert distance.text_content() == f"{km:.1f} km"
    ui.shot("workshops")


def test_member_story(web_node, make_ui):
    """Key, design, workshop, two votes (one changed), the ledger: no background analysis needed."""
    ui = make_ui(web_node)
    did, seed = sign_in_with_new_key(ui)
    ui.shot("key")
    ui.admit(did)
    voters = [AgentKey.from_seed(hashlib.sha256(f"voter {n}".encode()).digest()) for n in range(4)]
    for voter in voters:
        ui.admit(voter.did)
    ui.page.reload()
    ui.page.get_by_text("yes (member)").wait_for()

    design_id = publish_plate(ui, did)
    # The gallery finds it.
    ui.goto("/ui/designs?q=switch")
    card = ui.page.locator(f'#gallery li[data-id="{design_id}"]')
    card.wait_for()
    ui.shot("designs")

    # The design page: 3D view, files, attribution to copy.
    card.get_by_role("link", name="Switch Mounting Plate (GoPro compatible)").click()
    ui.page.locator("#viewer[data-state]").wait_for()
    assert ui.page.locator("#viewer").get_attribute("data-state") == "ready"
    assert ui.page.locator("#viewer").get_attribute("data-triangles") == "3792"
    tasl = ui.page.locator("#tasl").text_content()
    assert "Switch Mounting Plate (GoPro compatible)" in tasl
    assert "CC-BY-SA-4.0" in tasl or "by-sa/4.0" in tasl
    ui.page.locator("#viewer canvas").focus()
    ui.page.keyboard.press("ArrowLeft")
    ui.shot("design")
    request_link = ui.page.get_by_role("link", name="Request this part")
    assert design_id in request_link.get_attribute("href")

    # Governance, part one: two votes open at once. A value-sharing policy (majority, with
    # the ledger.policy action) and a ranked choice, where the browser's vote changes.
    closes_in_s = 45
    ui.goto("/ui/proposals")
    ui.page.get_by_label("Action", exact=True).select_option("ledger.policy")
    policy_id = propose(ui, "Share the value of our jobs.", "majority", "yes\nno", closes_in_s)
    ui.page.get_by_label("Action", exact=True).select_option("")
    ranked_id = propose(ui, "Which filament for the printer?", "ranked", "A\nB\nC", closes_in_s)
    closes_at = time.monotonic() + closes_in_s
    ballots = (["A"], ["A"], ["B"], ["B"])
    for voter, ranking in zip(voters, ballots, strict=True):
        run_async(cast(web_node.url, voter, ranked_id, {"ranking": ranking}))
        run_async(cast(web_node.url, voter, policy_id, {"choice": "yes"}))
    ui.goto(f"/ui/proposals/{policy_id}")
    ui.page.get_by_label("yes").check()
    ui.page.get_by_role("button", name="Sign and vote").click()
    ui.page.locator("#my-ballot[data-ballot=yes]").wait_for()
    ui.goto(f"/ui/proposals/{ranked_id}")
    ui.page.get_by_label("Rank of A").select_option("1")
    ui.page.get_by_role("button", name="Sign and vote").click()
    ui.page.locator("#my-ballot[data-ballot='1. A']").wait_for()
    ui.page.locator("#tally").get_by_text("5 of 5 members voted").wait_for()  # live
    ui.shot("proposal-live")
    # Change the vote before the close: C first, then B.
    ui.page.get_by_label("Rank of A").select_option("")
    ui.page.get_by_label("Rank of C").select_option("1")
    ui.page.get_by_label("Rank of B").select_option("2")
    ui.page.get_by_role("button", name="Sign and vote").click()
    ui.page.locator("#my-ballot[data-ballot='1. C  2. B']").wait_for()

    set_up_workshop(ui, did)

    # After the close the node records the results; the pages follow.
    ui.goto(f"/ui/proposals/{ranked_id}")
    ui.page.locator("#proposal[data-status=closed]").wait_for(
        timeout=(closes_at - time.monotonic() + 30) * 1000
    )
    ui.page.locator("#tally-rounds").wait_for()
    rounds = ui.page.locator("#tally-rounds tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
    )
    # Worked by hand: first preferences A 2, B 2, C 1 (5 voters, no majority); C goes
    # out and its ballot moves to B: A 2, B 3, and B has a majority.
    assert rounds[0] == ["1", "2", "2", "1", "0", "C"]
    assert rounds[1][:3] == ["2", "2", "3"]
    assert "winner: B" in ui.page.locator("#tally").text_content()
    # specs/06-governance.md: the first option is the motion; B won, so it is not adopted.
    assert ui.page.locator("#tally-outcome").text_content() == "Not adopted"
    ui.shot("proposal-result")
    ui.goto(f"/ui/proposals/{policy_id}")
    ui.page.locator("#proposal[data-status=closed]").wait_for()
    assert ui.page.locator("#tally-outcome").text_content() == "Adopted"
    ui.page.get_by_text("Action ledger.policy: executed").wait_for(timeout=30_000)
    ui.shot("policy-adopted")

    # The ledger: the policy in force; record a contribution, then read the statement,
    # its inclusion proofs and checkpoint signatures checked here, in the browser.
    ui.goto("/ui/ledger")
    ui.page.locator("#policies li").first.wait_for()
    policy = ui.page.locator("#policies").text_content()
    assert "70 % to the workshop" in policy
    assert "20 % to the designers" in policy
    assert "10 % to the commons fund" in policy
    ui.page.get_by_label("Effort (quantity)").fill("2.5")
    ui.page.get_by_label("Note").fill("designed the mount")
    ui.page.get_by_role("button", name="Sign and record").click()
    ui.page.locator("#contribution-status[data-record-id]").wait_for()
    deadline = time.monotonic() + 30
    while True:
        ui.page.reload()
        ui.page.locator("#statement h3").wait_for()
        if ui.page.locator("[data-verified]").count() or time.monotonic() > deadline:
            break
    verified = ui.page.locator("[data-verified]")
    assert verified.count() >= 1
    states = verified.evaluate_all("els => els.map(e => e.dataset.verified)")
    assert set(states) == {"true"}
    ui.shot("ledger")

    check_traffic(ui, [seed])


def test_job_story(web_node, make_ui):
    """Thumbnail and analysis, routing, a job followed live to completion, and its share."""
    ui = make_ui(web_node)
    did, seed = sign_in_with_new_key(ui)
    ui.admit(did)
    voters = [AgentKey.from_seed(hashlib.sha256(f"voter {n}".encode()).digest()) for n in range(2)]
    for voter in voters:
        ui.admit(voter.did)
    # The value-sharing policy is voted from outside the browser (the member story
    # votes in it): 70 % to the workshop, 20 % to the designers, 10 % to the commons.
    run_async(adopt_policy(web_node.url, voters, closes_in_s=6))
    set_up_workshop(ui, did)
    # A second offer the routing must leave out (PETG only), with its reasons.
    ui.goto(f"/ui/workshops/{ui.node.did}/atelier")
    ui.page.get_by_label("Offer id").fill("petg-prints")
    ui.page.locator("#o-processes").fill("fdm")
    ui.page.locator("#o-materials").fill("petg")
    ui.page.get_by_label("Serves countries").fill("FR")
    ui.page.get_by_role("button", name="Sign and publish offer").click()
    ui.page.locator("#offers li[data-offer=petg-prints]").wait_for()
    design_id = publish_plate(ui, did)

    # The gallery shows its thumbnail once the node has analysed the mesh.
    ui.goto("/ui/designs?q=switch")
    card = ui.page.locator(f'#gallery li[data-id="{design_id}"]')
    card.wait_for()
    thumb = card.locator("img")
    thumb.wait_for(timeout=90_000)
    assert thumb.get_attribute("src").startswith("/blobs/sha256/")
    loaded = "img => img.complete && img.naturalWidth > 0"
    ui.page.wait_for_function(loaded, arg=thumb.element_handle())
    ui.shot("designs")
    ui.goto(f"/ui/designs/{design_id}")
    ui.page.locator("#analysis section.analysis").wait_for(timeout=90_000)
    analysis = ui.page.locator("#analysis").text_content()
    assert "Watertight" in analysis
    assert "3792" in analysis
    ui.shot("design-analysed")

    # Request the part: routing ranks the atelier's offer, with its reasons.
    ui.page.get_by_role("link", name="Request this part").click()
    ui.page.locator("#job-form").wait_for()
    ui.page.get_by_label("Material").fill("pla")
    ui.page.get_by_label("Country (ISO code)").fill("FR")
    ui.page.get_by_label("Region").fill("ARA")
    ui.page.get_by_role("button", name="Find workshops").click()
    ranked = ui.page.locator("#ranking li[data-workshop=atelier]")
    ranked.wait_for()
    assert "score" in ranked.text_content()
    assert "Why:" in ranked.text_content()
    left_out = ui.page.locator("#excluded li", has_text="offer petg-prints")
    assert "pla" in left_out.text_content().split(":", 1)[1]  # the reason names the material
    assert ui.page.locator("#ranking li").count() == 1
    ui.shot("job-routing")
    ui.page.get_by_role("button", name="Sign and request").click()
    ui.page.wait_for_url("**/ui/jobs/sha256:*")
    job_id = ui.page.url.rsplit("/", 1)[1]
    ui.page.locator("#job[data-state=offered]").wait_for(timeout=30_000)
    ui.shot("job-offered")

    # The owner accepts it on the workshop's page; the job page follows by itself.
    job_page = ui.page
    owner = ui.page.context.new_page()
    owner.goto(ui.url(f"/ui/workshops/{ui.node.did}/atelier"))
    answer = owner.locator(f'form.answer[data-job="{job_id}"]')
    answer.wait_for(timeout=30_000)
    answer.get_by_role("button", name="Accept").click()
    job_page.locator("#job[data-state=accepted]").wait_for(timeout=30_000)
    for status in ("in_production", "shipped", "delivered"):
        progress = owner.locator(f'form.progress[data-job="{job_id}"]')
        progress.wait_for()
        progress.get_by_label("New status").select_option(status)
        progress.get_by_role("button", name="Sign and report").click()
        job_page.locator(f"#job[data-state={status}]").wait_for(timeout=30_000)

    # Delivered and paid: the payment is shared by the policy in force.
    progress = owner.locator(f'form.progress[data-job="{job_id}"]')
    progress.get_by_label("Paid (in cents)").fill("2350")
    progress.get_by_role("button", name="Sign: completed and paid").click()
    job_page.locator("#job[data-state=completed]").wait_for(timeout=30_000)
    items = job_page.locator("#job-history li")
    history = items.evaluate_all("els => els.map(e => e.dataset.type)")
    assert history[0] == "job.request"
    assert history[-1] == "job.complete"
    assert {"job.offer", "job.accept", "job.status"} <= set(history)
    ui.shot("job-completed")
    owner.close()

    ui.goto("/ui/ledger")
    distribution = ui.page.locator(f'section.distribution[data-job="{job_id}"]')
    distribution.wait_for(timeout=30_000)
    shares = distribution.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[1].textContent, r.cells[2].textContent])"
    )
    # 70 / 20 / 10 % of 23.50 EUR, worked by hand: 16.45, 4.70, 2.35 (one designer).
    assert sorted(amount for _, amount in shares) == ["16.45 EUR", "2.35 EUR", "4.70 EUR"]
    ui.shot("ledger-distribution")
    check_traffic(ui, [seed])
