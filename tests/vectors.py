"""Signature test vectors, verbatim from shared/spec/hubspot-webhooks.md §5.2."""

from __future__ import annotations

DOCS_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOCS_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
EXAMPLE_URI = "https://www.example.com/webhook_uri"
EXAMPLE_BODY = b'{"example_field":"example_value"}'
SDK_BODY = b"{'example_field':'example_value'}"

DOCS_V3_SECRET = "cfc68c0b-4b4e-4ef8-b764-95350e4ea479"
DOCS_V3_URI = "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df"
DOCS_V3_BODY = (
    b'[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,'
    b'"appId":16111050,"occurredAt":1752613920733,"subscriptionType":"contact.creation",'
    b'"attemptNumber":0,"objectId":138017612137,"changeFlag":"CREATED",'
    b'"changeSource":"CRM_UI","sourceId":"userId:76023669"}]'
)

NEW_SECRET = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
NEW_TS = 1767225600000
HOOK = "https://hooks.example.com/hubspot/webhook"
B_ASCII = (
    b'[{"eventId":1030198139,"subscriptionId":4578255,"portalId":242711451,'
    b'"appId":19635961,"occurredAt":1767225599123,"subscriptionType":"contact.creation",'
    b'"attemptNumber":0,"objectId":267448862446,"changeFlag":"CREATED",'
    b'"changeSource":"CRM_UI","sourceId":"userId:52530071"}]'
)
B_UTF8 = (
    '[{"eventId":1030198140,"subscriptionId":4578256,"portalId":242711451,'
    '"appId":19635961,"occurredAt":1767225599200,"subscriptionType":'
    '"contact.propertyChange","attemptNumber":0,"objectId":267448862446,'
    '"propertyName":"firstname","propertyValue":"Zoë 😀","changeSource":"CRM_UI",'
    '"sourceId":"userId:52530071"},{"eventId":1030198141,"subscriptionId":4578257,'
    '"portalId":242711451,"appId":19635961,"occurredAt":1767225599300,'
    '"subscriptionType":"company.propertyChange","attemptNumber":0,'
    '"objectId":98765432101,"propertyName":"city","propertyValue":"東京",'
    '"changeSource":"API","sourceId":"19635961"}]'
).encode()
B_ESC = (
    B_UTF8.decode()
    .replace("Zoë 😀", "Zo\\u00eb \\ud83d\\ude00")
    .replace("東京", "\\u6771\\u4eac")
    .encode()
)
QUERY_URI = HOOK + "?tenant=acme&env=prod"
PCT_URI = (
    "https://hooks.example.com/hubspot/webhook%3Bv1?cb=https%3A%2F%2Fapp.example.com"
    "%2Fdone%3Fx%3D1&tags=a%2Cb%20c&who=%40zo%C3%AB"
)
PCT_DECODED = (
    "https://hooks.example.com/hubspot/webhook;v1?cb=https://app.example.com/done?x%3D1"
    "&tags=a,b%20c&who=@zo%C3%AB"
)

# (id, version, secret, method, uri, body, timestamp, signature)
VECTORS = [
    (
        "docs-v1",
        "v1",
        DOCS_SECRET,
        "POST",
        "",
        DOCS_V1_BODY,
        None,
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
    ),
    (
        "docs-v2-get",
        "v2",
        DOCS_SECRET,
        "GET",
        EXAMPLE_URI,
        b"",
        None,
        "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
    ),
    (
        "docs-v2-post",
        "v2",
        DOCS_SECRET,
        "POST",
        EXAMPLE_URI,
        EXAMPLE_BODY,
        None,
        "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
    ),
    (
        "sdk-v1",
        "v1",
        DOCS_SECRET,
        "POST",
        "",
        SDK_BODY,
        None,
        "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
    ),
    (
        "sdk-v2",
        "v2",
        DOCS_SECRET,
        "POST",
        EXAMPLE_URI,
        SDK_BODY,
        None,
        "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383",
    ),
    (
        "sdk-v3",
        "v3",
        DOCS_SECRET,
        "POST",
        EXAMPLE_URI,
        SDK_BODY,
        1693657560000,
        "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
    ),
    (
        "ruby-v3",
        "v3",
        DOCS_SECRET,
        "POST",
        EXAMPLE_URI,
        SDK_BODY,
        1700000300000,
        "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw=",
    ),
    (
        "docs-v3",
        "v3",
        DOCS_V3_SECRET,
        "POST",
        DOCS_V3_URI,
        DOCS_V3_BODY,
        1752613922216,
        "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg=",
    ),
    (
        "A-v1",
        "v1",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ASCII,
        None,
        "288d873728d41c11295a028088cd90692c8c9c1ff1377e6e9e942a7c869f6f48",
    ),
    (
        "A-v2",
        "v2",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ASCII,
        None,
        "85d41dc2670e1dd2df4f742485174489609d4196c331ab1230d6962c187a67aa",
    ),
    (
        "A-v3",
        "v3",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ASCII,
        NEW_TS,
        "3l65iYYt7nBsCZsIhp7mJQfAyR2QYPm7Of1ZShZBfMA=",
    ),
    (
        "B-v1",
        "v1",
        NEW_SECRET,
        "POST",
        HOOK,
        B_UTF8,
        None,
        "091463aedc0a5b6bc1bc9ef44374afb1afe60178f7375b6e1abb53e160f10414",
    ),
    (
        "B-v2",
        "v2",
        NEW_SECRET,
        "POST",
        HOOK,
        B_UTF8,
        None,
        "61834d1a9bec8b0d880c0ea4c66815bd9c9230bf9b045ca51dd04a036e9525ed",
    ),
    (
        "B-v3",
        "v3",
        NEW_SECRET,
        "POST",
        HOOK,
        B_UTF8,
        NEW_TS,
        "HclWWbQO9VIa7FnW00cwQWd8NmnTCuOgHwXFwbLyxds=",
    ),
    (
        "Besc-v1",
        "v1",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ESC,
        None,
        "77feef36cca13eada485d8aa857781d931e70350bc4470646360cd25a76fa1fa",
    ),
    (
        "Besc-v2",
        "v2",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ESC,
        None,
        "c91e4239bf4efcb58e9adff83d81f32165578bea93d429637beebe560c07195c",
    ),
    (
        "Besc-v3",
        "v3",
        NEW_SECRET,
        "POST",
        HOOK,
        B_ESC,
        NEW_TS,
        "qzmBaaeKd8zgTXC9unjpX+lcQuJk1XTb62ivNiE9CB4=",
    ),
    (
        "C-v2",
        "v2",
        NEW_SECRET,
        "POST",
        QUERY_URI,
        B_ASCII,
        None,
        "ea1dda963594eee4af5e2b8288092f62445a0034cfd4553458b0d6467e9c043d",
    ),
    (
        "C-v3",
        "v3",
        NEW_SECRET,
        "POST",
        QUERY_URI,
        B_ASCII,
        NEW_TS,
        "SkSceBpDQIocAhKFx/TweYT3t4XTU7u1iC/HOPW02PQ=",
    ),
    (
        "D-v2",
        "v2",
        NEW_SECRET,
        "POST",
        PCT_URI,
        B_ASCII,
        None,
        "ad1e5e081ab9f8743504f7aef0bbbd3aeec58c0e3e9eebd913c50f86621726e1",
    ),
    (
        "D-v3",
        "v3",
        NEW_SECRET,
        "POST",
        PCT_URI,
        B_ASCII,
        NEW_TS,
        "cup0TCx2xFwPmdcQPbDg04JOCCVdm9ZEZsjEyDoCJ9c=",
    ),
]
