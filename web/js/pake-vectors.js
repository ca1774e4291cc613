// Vectors of the spoken-code exchange, checked by the page's self-test (selftest.js):
// the CPace draft's ristretto255/SHA-512 vectors, and our own (docs/code-vectors.json).
// tests/unit/test_cpace.py checks this file against both.

export const DRAFT = {
  "PRS": "50617373776f7264",
  "CI": "0b415f696e69746961746f720b425f726573706f6e646572",
  "sid": "7e4b4791d6a8ef019b936c79fb7f2c57",
  "g": "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56",
  "ya": "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08",
  "ADa": "414461",
  "Ya": "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157",
  "yb": "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d",
  "ADb": "414462",
  "Yb": "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258",
  "K": "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f",
  "ISK_IR": "b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447"
};

export const CODE = {
  "code": "7-guitarist-revenge-amulet",
  "password": "guitarist-revenge-amulet",
  "ci_hex": "137367726170682d73656e642f76312f636f64650137",
  "generator_hex": "9c7817270667197c83a3f55e709779b56bd3b3db3b293c0561642d096dd90f27",
  "scalar_receiver_hex": "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e0f",
  "scalar_sender_hex": "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e0f",
  "messages": [
    {
      "v": 1,
      "kind": "pake",
      "role": "receiver",
      "y": "OAB2O4VLJrJGzqZPRE8pIiVeN-yOMFmF3WfqephmtRs"
    },
    {
      "v": 1,
      "kind": "pake",
      "role": "sender",
      "y": "LDcaB3cPfPLXbcZ0trzgt5X-6NHPEt-EVN8vqmYrxQM",
      "confirm": "t1zCWUOCnEk_GiG5dAqrCZ0bnrIRaDvaD9NaN_y59_0"
    },
    {
      "v": 1,
      "kind": "confirm",
      "role": "receiver",
      "confirm": "SfBM9yTv8N_v7Tn5ZCEsT2xXAJ-IrVaMGmSrROSPzac"
    }
  ],
  "secret_code": "qA7k_VthMFOI2zfqIdvPlQw_58CERVbQsVHH3fOYuOY",
  "room_id": "713f349da037582ae599bc12d7b44a00"
};
