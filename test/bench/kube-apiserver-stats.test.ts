import { describe, expect, it } from "vitest";
import { parseRequestCounts } from "../../bench/lib/kube-apiserver-stats.js";

describe("parseRequestCounts", () => {
  it("sums every apiserver_request_total series and the TokenReview ones apart", () => {
    const text = [
      "# HELP apiserver_request_total [STABLE] Counter of apiserver requests",
      "# TYPE apiserver_request_total counter",
      'apiserver_request_total{code="201",component="apiserver",group="authentication.k8s.io",resource="tokenreviews",verb="POST",version="v1"} 1200',
      'apiserver_request_total{code="200",component="apiserver",group="coordination.k8s.io",resource="leases",verb="PUT",version="v1"} 30',
      'apiserver_request_total{code="200",component="",group="",resource="",verb="GET",version=""} 2',
      'apiserver_request_duration_seconds_count{resource="tokenreviews",verb="POST"} 999',
      "",
    ].join("\n");
    expect(parseRequestCounts(text)).toEqual({ all: 1232, tokenReviews: 1200 });
  });

  it("reads nothing from a text without the counter", () => {
    expect(parseRequestCounts("# nothing here\n")).toEqual({ all: 0, tokenReviews: 0 });
  });
});
