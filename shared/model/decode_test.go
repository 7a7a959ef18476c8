package model

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/pseudonym"
)

func TestCanonical(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		entity  Entity
		raw     string
		want    string // canonical JSON when valid
		wantErr string // substring of the error when invalid
	}{
		{
			name:   "product with integer price and trailing space",
			entity: Products,
			raw:    `{"id":3,"title":"Jacket ","price":55,"description":"d","category":"men's clothing","image":"https://x.test/i.jpg","rating":{"rate":4.7,"count":500}}`,
			want:   `{"id":3,"title":"Jacket ","price":55,"description":"d","category":"men's clothing","image":"https://x.test/i.jpg","rating":{"rate":4.7,"count":500}}`,
		},
		{
			name:   "product without rating or image",
			entity: Products,
			raw:    `{"id":1,"title":"t","price":0.5,"category":"c"}`,
			want:   `{"id":1,"title":"t","price":0.5,"description":"","category":"c","image":"","rating":null}`,
		},
		{
			name:   "user with string lat/long, __v and password dropped",
			entity: keyedUsers,
			raw:    `{"address":{"geolocation":{"lat":"-37.3159","long":"81.1496"},"city":"kilcoole","street":"new road","number":7682,"zipcode":"12926-3874"},"id":1,"email":"john@gmail.com","username":"johnd","password":"m38rmF$","name":{"firstname":"john","lastname":"doe"},"phone":"1-570-236-7033","__v":0}`,
			want:   `{"id":1,"email_hash":"` + testKey.Email("john@gmail.com") + `","username":"johnd","name":{"firstname":"john","lastname":"doe"},"phone":"1-570-236-7033","address":{"city":"kilcoole","street":"new road","number":7682,"zipcode":"12926-3874","geolocation":{"lat":-37.3159,"long":81.1496}}}`,
		},
		{
			name:   "user with numeric lat/long",
			entity: keyedUsers,
			raw:    `{"id":2,"email":"A@b.co","email_hash":"forged","username":"u","address":{"geolocation":{"lat":10.5,"long":-20}}}`,
			want:   `{"id":2,"email_hash":"` + testKey.Email("a@b.co") + `","username":"u","name":{"firstname":"","lastname":""},"phone":"","address":{"city":"","street":"","number":0,"zipcode":"","geolocation":{"lat":10.5,"long":-20}}}`,
		},
		{name: "missing id", entity: Products, raw: `{"title":"t","price":1,"category":"c"}`, wantErr: "id fails gt=0"},
		{name: "empty title", entity: Products, raw: `{"id":1,"title":"  ","price":1,"category":"c"}`, wantErr: "title fails notblank"},
		{name: "negative price", entity: Products, raw: `{"id":1,"title":"t","price":-5,"category":"c"}`, wantErr: "price fails gte=0"},
		{name: "price over the bound", entity: Products, raw: `{"id":1,"title":"t","price":2e15,"category":"c"}`, wantErr: "price fails lte=1000000000"},
		{name: "highest price", entity: Products, raw: `{"id":1,"title":"t","price":1e9,"category":"c"}`, want: `{"id":1,"title":"t","price":1000000000,"description":"","category":"c","image":"","rating":null}`},
		{name: "rating out of range", entity: Products, raw: `{"id":1,"title":"t","price":1,"category":"c","rating":{"rate":9,"count":1}}`, wantErr: "rating.rate fails lte=5"},
		{name: "price as string", entity: Products, raw: `{"id":1,"title":"t","price":"1","category":"c"}`, wantErr: `field "price": expected float64, got JSON string`},
		{name: "non-object element", entity: Products, raw: `42`, wantErr: "products element is not a JSON object"},
		{name: "null element", entity: Users, raw: `null`, wantErr: "users element is not a JSON object"},
		{name: "malformed email", entity: Users, raw: `{"id":1,"email":"not-an-email","username":"u","password":"s3cret!"}`, wantErr: "email fails email"},
		{name: "latitude out of range", entity: Users, raw: `{"id":1,"email":"a@b.co","username":"u","address":{"geolocation":{"lat":"91","long":"0"}}}`, wantErr: "address.geolocation.lat fails lte=90"},
		{name: "latitude not a number", entity: Users, raw: `{"id":1,"email":"a@b.co","username":"u","address":{"geolocation":{"lat":"north","long":"0"}}}`, wantErr: "coordinate: not a decimal number"},
		{name: "cart with a quantity over the bound", entity: Carts, raw: `{"id":1,"userId":1,"date":"2020-03-02T00:00:00.000Z","products":[{"productId":1,"quantity":10000000000000}]}`, wantErr: "products[0].quantity fails lte=1000000"},
		{name: "cart dated on the zero date", entity: Carts, raw: `{"id":1,"userId":1,"date":"0001-01-01T00:00:00.000Z","products":[]}`, wantErr: "date fails from1970to2099"},
		{name: "cart dated just before 1970", entity: Carts, raw: `{"id":1,"userId":1,"date":"1969-12-31T23:59:59.999Z","products":[]}`, wantErr: "date fails from1970to2099"},
		{name: "cart dated on the first day allowed", entity: Carts, raw: `{"id":1,"userId":1,"date":"1970-01-01T00:00:00.000Z","products":[]}`, want: `{"id":1,"userId":1,"date":"1970-01-01T00:00:00.000Z","products":[]}`},
		{name: "cart dated on the last moment allowed", entity: Carts, raw: `{"id":1,"userId":1,"date":"2099-12-31T23:59:59.999Z","products":[]}`, want: `{"id":1,"userId":1,"date":"2099-12-31T23:59:59.999Z","products":[]}`},
		{name: "cart dated 2100", entity: Carts, raw: `{"id":1,"userId":1,"date":"2100-01-01T00:00:00.000Z","products":[]}`, wantErr: "date fails from1970to2099"},
		{name: "cart with negative quantity", entity: Carts, raw: `{"id":1,"userId":1,"date":"2020-03-02T00:00:00.000Z","products":[{"productId":1,"quantity":-1}]}`, wantErr: "products[0].quantity fails gt=0"},
		{name: "cart with bad date", entity: Carts, raw: `{"id":1,"userId":1,"date":"yesterday","products":[]}`, wantErr: "date fails datetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.entity.Canonical([]byte(tc.raw))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Canonical(%s) = %s, want error containing %q", tc.raw, got, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q echoes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("canonical JSON (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFixturesDecode proves every record of the real FakeStore snapshot is valid
// and that no fixture password survives into a canonical record.
// testKey pseudonymises the users of these tests.
var testKey, _ = pseudonym.NewKey("test-key-0123456789")

var keyedUsers = Users.WithKey(testKey)

func TestUsersNeedAKey(t *testing.T) {
	if _, err := Users.Canonical([]byte(`{"id":1,"email":"a@b.co","username":"u"}`)); err == nil || !strings.Contains(err.Error(), "no pseudonymisation key") {
		t.Errorf("Canonical without a key = %v, want an error", err)
	}
}

func TestFixturesDecode(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		entity Entity
		want   int
	}{{Products, 20}, {keyedUsers, 10}, {Carts, 7}} {
		t.Run(tc.entity.Name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile("../../functions/local/storefront/fixtures/" + tc.entity.Name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(b, &elems); err != nil {
				t.Fatal(err)
			}
			passwords := fixturePasswords(t, elems)
			for i, raw := range elems {
				got, err := tc.entity.Canonical(raw)
				if err != nil {
					t.Fatalf("element %d: %v", i, err)
				}
				for _, pw := range passwords {
					if strings.Contains(string(got), pw) {
						t.Errorf("element %d: canonical record contains a source password", i)
					}
				}
				if strings.Contains(string(got), "password") || strings.Contains(string(got), "__v") || strings.Contains(string(got), "@") {
					t.Errorf("element %d: canonical record keeps a dropped field: %s", i, got)
				}
			}
			if len(elems) != tc.want {
				t.Errorf("got %d records, want %d", len(elems), tc.want)
			}
		})
	}
}

func fixturePasswords(t *testing.T, elems []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, raw := range elems {
		var v struct {
			Password string `json:"password"`
		}
		_ = json.Unmarshal(raw, &v)
		if v.Password != "" {
			out = append(out, v.Password)
		}
	}
	return out
}

// FuzzCanonical feeds arbitrary bytes to every entity decoder: it must never
// panic, must either reject with ErrInvalid or return a record that decodes
// again to itself, and must never emit a password field.
func FuzzCanonical(f *testing.F) {
	for _, name := range []string{"products", "users", "carts"} {
		b, err := os.ReadFile("../../functions/local/storefront/fixtures/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil {
			f.Fatal(err)
		}
		for _, e := range elems[:3] {
			f.Add([]byte(e))
		}
	}
	f.Add([]byte(`{"id":1,"address":{"geolocation":{"lat":"1e400"}}}`))
	f.Add([]byte(`[{}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, e := range []Entity{Products, keyedUsers, Carts} {
			got, err := e.Canonical(raw)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s: error %v does not wrap ErrInvalid", e.Name, err)
				}
				continue
			}
			if e.Name == Users.Name {
				// A canonical user holds the pseudonym, never the address:
				// it is not input to decode again.
				if strings.Contains(string(got), `"email"`) || !strings.Contains(string(got), `"email_hash":"`) {
					t.Fatalf("users: canonical record keeps the address or lacks its pseudonym: %s", got)
				}
				continue
			}
			again, err := e.Canonical(got)
			if err != nil {
				t.Fatalf("%s: canonical record %s does not decode again: %v", e.Name, got, err)
			}
			if string(again) != string(got) {
				t.Fatalf("%s: canonical form not stable: %s != %s", e.Name, again, got)
			}
			if strings.Contains(string(got), `"password"`) {
				t.Fatalf("%s: canonical record has a password field: %s", e.Name, got)
			}
		}
	})
}
