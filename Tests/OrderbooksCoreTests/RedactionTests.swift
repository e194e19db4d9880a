import Testing
@testable import OrderbooksCore

/// Issue 9 §4: no credential in any record, whatever the remote's spelling.
@Suite struct RedactionTests {
    @Test(arguments: [
        (":sftp,host=h.example,user=u,pass=OBSCURED1:archive", ":sftp,host=h.example,user=u,pass=***:archive"),
        ("gdrive,token='{\"access_token\":\"AT\",\"x\":\"y\"}',client_secret=CS:orderbooks", "gdrive,token=***,client_secret=***:orderbooks"),
        (":s3,provider=AWS,access_key_id=AKIA,secret_access_key=SAK,region=eu:bucket/p", ":s3,provider=AWS,access_key_id=***,secret_access_key=***,region=eu:bucket/p"),
        (":azureblob,account=acc,sas_url=\"https://acc.example/?sig=S,IG\":c", ":azureblob,account=***,sas_url=***:c"),
        (":webdav,url='https://me:PW@dav.example/x',vendor=other:", ":webdav,url='https://***@dav.example/x',vendor=other:"),
        (":crypt,remote=\":sftp,host=h,pass=INNER:d\",password=OUTER:", ":crypt,remote=\":sftp,host=h,pass=***:d\",password=***:"),
        ("remote,Pass=x:path", "remote,Pass=***:path"),
        ("gdrive:orderbooks/polymarket", "gdrive:orderbooks/polymarket"),
        ("/srv/backup,pass=x", "/srv/backup,pass=x"),
        (":sftp,pass=UNTERMINATED", ":sftp,pass=***"),
        (":sftp,pass=\"open:archive", ":sftp,pass=***"),
        (":local,nounc:/x", ":local,nounc:/x"),
        // A shown parameter holding a URL with user info, a URL in the path, an unquoted URL.
        (":s3,provider=Minio,endpoint='http://AKID:SECRETZ7@127.0.0.1:1',access_key_id=x,secret_access_key=y:bucket",
         ":s3,provider=Minio,endpoint='http://***@127.0.0.1:1',access_key_id=***,secret_access_key=***:bucket"),
        (":sftp,host=h:http://AKID:SECRETZ7@host/x", ":sftp,host=h:http://***@host/x"),
        (":webdav,url=http://u:SECRETZ7@h,pass=SECRETP8:path", ":webdav,url=http:***"),
        (":webdav,url='https://bob:pa/ssSECRET@host/',vendor=other:x", ":webdav,url='https://***@host/',vendor=other:x"),
        (":crypt,remote=:sftp,host=h,pass=SECRETQ:p,password=SECRET2:", ":crypt,remote=:***"),
    ])
    func remotesAreMasked(_ remote: String, _ shown: String) {
        #expect(Redaction(remote: remote).shownRemote == shown)
    }

    /// rclone quotes a remote in its errors Go's way (`\"` for `"`) and URL-encodes what it
    /// took for a path: the secrets are masked in those forms too.
    @Test func secretsAreMaskedAsRcloneEchoesThem() {
        let json = Redaction(remote: ":webdav,url='http://127.0.0.1:1/',bearer_token='{\"access_token\":\"ya29SECRETQ\"}':x")
        let echoed = #"Failed to create file system for ":webdav,url='http://127.0.0.1:1/',bearer_token='{\"access_token\":\"ya29SECRETQ\"}':x": 503"#
        #expect(!json.scrub(echoed).contains("SECRETQ"), "\(json.scrub(echoed))")
        let spaced = Redaction(remote: ":webdav,url='http://127.0.0.1:1/',bearer_token='ab''SECRETQ xy':x")
        #expect(!spaced.scrub("GET http://127.0.0.1:1/?t=ab%27SECRETQ%20xy failed").contains("SECRETQ"))
    }

    @Test func anUnquotedURLHidesTheRestOfTheRemoteEverywhere() {
        let r = Redaction(remote: ":webdav,url=http://u:SECRETZ7@h,pass=SECRETP8:path")
        let scrubbed = r.scrub("ERROR : pass=SECRETP8 user u:SECRETZ7 failed")
        #expect(!scrubbed.contains("SECRETP8") && !scrubbed.contains("SECRETZ7"), "\(scrubbed)")
    }

    @Test func scrubMasksTheRemoteAndItsSecretsInFreeText() {
        let r = Redaction(remote: ":sftp,host=h,user=u,pass=\"OB,SCURED\":archive")
        let stderr = "ERROR : Failed to create file system for \":sftp,host=h,user=u,pass=\"OB,SCURED\":archive/2026\": couldn't connect; pass was OB,SCURED"
        let scrubbed = r.scrub(stderr)
        #expect(!scrubbed.contains("OB,SCURED") && !scrubbed.contains("SCURED"), "\(scrubbed)")
        #expect(scrubbed.contains(":sftp,host=h,user=u,pass=***:archive/2026"))
        // Short values are masked in the spec, not everywhere in free text.
        #expect(Redaction(remote: ":sftp,pass=ab:x").scrub("a cab ride :sftp,pass=ab:x") == "a cab ride :sftp,pass=***:x")
    }

    @Test func urlUserInfoIsMasked() {
        #expect(Redaction.url("https://user:token@host.example/path?q=1") == "https://***@host.example/path?q=1")
        #expect(Redaction.url("https://token@host.example") == "https://***@host.example")
        #expect(Redaction.url("https://host.example/a@b") == "https://host.example/a@b")
        #expect(Redaction.url("https://host.example") == "https://host.example")
        #expect(Redaction.url("not a url") == "not a url")
        #expect(Redaction.scrubURLs(in: "GET https://u:p@a.example/x failed; retry http://b.example/@y and ftp://k@c.example")
                == "GET https://***@a.example/x failed; retry http://b.example/@y and ftp://***@c.example")
    }
}
