"""azure-identity (Python) ManagedIdentityCredential, configured by the environment only; calls ARM
(AZMI_ARM_ENDPOINT, else management.azure.com itself: on a simulated host that name is the emulator)."""
import base64
import json
import os
import sys

import requests
from azure.identity import ManagedIdentityCredential

token = ManagedIdentityCredential().get_token("https://management.azure.com/.default").token
res = requests.get(
    f"{os.environ.get('AZMI_ARM_ENDPOINT', 'https://management.azure.com')}/subscriptions/{sys.argv[1]}/resourcegroups?api-version=2021-04-01",
    headers={"Authorization": f"Bearer {token}"},
    timeout=30,
)
payload = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
print(json.dumps({"arm": res.status_code, "oid": claims.get("oid"), "appid": claims.get("appid")}))
