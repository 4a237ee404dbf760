/*
 * image-pinned: Every image names a tag other than latest, or a digest, so what runs is what was
 * reviewed.
 */
#include "kadmit/attest.h"
#include "rule_api.h"

static const struct ka_param_def image_params[] = {
    {"requireDigest", KA_P_BOOL, "false", "require a digest (repo@sha256:...), not only a tag"},
    {NULL, 0, NULL, NULL},
};

static int image_container(struct ka_rule_run *run, cJSON *c, const char *name,
                           const struct ka_container_ref *at, void *arg)
{
    (void)arg;
    const char *image = str_at(c, "image");
    if (image == NULL || image[0] == '\0') {
        return ka_container_report(run, name, at, "has no image",
                                   "set image to repo:tag or repo@sha256:digest", "/image");
    }
    char what[300];
    enum ka_image_digest digest = ka_image_digest(image, NULL);
    if (digest == KA_DIGEST_MALFORMED) {
        snprintf(what, sizeof(what), "image \"%.200s\" has a malformed digest", image);
        return ka_container_report(
            run, name, at, what,
            "use repo@sha256:<64 lowercase hex digits> or repo@sha512:<128 lowercase hex digits>",
            "/image");
    }
    if (digest != KA_DIGEST_NONE) {
        return 0;
    }
    const char *slash = strrchr(image, '/');
    const char *colon = strchr(slash ? slash : image, ':');
    if (param_bool(run, "requireDigest")) {
        snprintf(what, sizeof(what), "image \"%.200s\" is not pinned by digest", image);
        return ka_container_report(run, name, at, what, "use repo@sha256:<digest>", "/image");
    }
    if (colon == NULL) {
        snprintf(what, sizeof(what), "image \"%.200s\" has no tag (means :latest)", image);
        return ka_container_report(run, name, at, what, "use a version tag or @sha256 digest",
                                   "/image");
    }
    if (strcmp(colon + 1, "latest") == 0) {
        snprintf(what, sizeof(what), "image \"%.200s\" uses the latest tag", image);
        return ka_container_report(run, name, at, what, "use a version tag or @sha256 digest",
                                   "/image");
    }
    return 0;
}

static int run_image_pinned(struct ka_rule_run *run)
{
    return ka_for_each_container(run, KA_INIT | KA_APP | KA_EPHEMERAL, image_container, NULL);
}

const struct ka_rule_def ka_rule_image_pinned = {
    .id = "image-pinned",
    .summary = "images name a tag other than `latest`, or a well-formed digest (sha256: 64 hex "
               "digits, sha512: 128)",
    .description =
        "Every image (containers, initContainers including native sidecars, ephemeralContainers) "
        "names a tag "
        "other than latest, or a well-formed digest (sha256:<64 hex> or sha512:<128 hex>). A "
        "registry port (host:5000/app) is not a tag.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = image_params,
    .run = run_image_pinned,
};
